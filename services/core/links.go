package core

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// The six link endpoints of devices and session types (devicelinks.go, sessiontypelinks.go) are
// one implementation: a linkEndpoint says, for one association table, how OpenTera reads its POST
// bodies, whom it lets write or remove which side, and what it answers on a refusal.

// sideSet is the set of ids of one side a caller may touch.
type sideSet func(m me) access.Fragment

// sideRule refuses with err an id of side A (onA) or B outside set.
type sideRule struct {
	onA bool
	set sideSet
	err error
}

// linkForm is a set-replacing POST wrapper: {"<wrapper>": {<id key>, <list key>: [{<other key>}]}}.
type linkForm struct {
	name       string // the wrapper
	onA        bool   // the owner is on side A
	idKey      string
	listKey    string
	missingID  string
	missingSet string
	// owner refuses an owner outside its set (nil: no rule).
	owner *sideRule
	// removable is what the replacement may remove (nil: every link of the owner).
	removable sideSet
	// removed refuses removing a link whose other side is outside its set (nil: no rule).
	removed *sideRule
	// allListed answers every listed link, not only the added ones (OpenTera's session type
	// services).
	allListed bool
	// refused answers a refusal of the schema while removing links.
	refused error
}

type linkEndpoint struct {
	link       store.Link
	keyA, keyB string
	// uuidA resolves {"<keyA without id_>_uuid": …} (devices) to ids.
	uuidA bool
	// forms in OpenTera's order of precedence.
	forms []linkForm
	// noForm answers a body with none of the wrappers.
	noForm error
	// badItem answers an added link without both ids.
	badItem error
	// pair checks every link written.
	pair []sideRule
	// integrity maps the schema's refusals of a write to OpenTera's answers.
	integrity map[string]error
	// del rules the DELETE by link id.
	del linkDelete
	// prepare, when set, runs once the links to add are checked, before they are written.
	prepare func(ctx context.Context, tx pgx.Tx, pairs [][2]int32) error
}

type linkDelete struct {
	notFound error
	rules    []sideRule
	// refused answers a refusal of the schema (nil: the schema's message, 500).
	refused func(msg string) error
}

// linkBody is a parsed POST.
type linkBody struct {
	form  *linkForm
	owner int32
	set   []int32
	pairs [][2]int32 // the links to validate and add
}

// parse reads a POST body given as its wrappers, in the order of sp.forms (nil when absent),
// and the add form's value.
func (sp *linkEndpoint) parse(ctx context.Context, tx pgx.Tx, wrappers []*structpb.Struct, add *structpb.Value) (*linkBody, error) {
	for i, w := range wrappers {
		if w == nil {
			continue
		}
		f := sp.forms[i]
		owner, ok := intField(w, f.idKey)
		if !ok {
			return nil, apierr.InvalidArgument(f.missingID)
		}
		lv := w.GetFields()[f.listKey].GetListValue()
		if lv == nil {
			return nil, apierr.InvalidArgument(f.missingSet)
		}
		other := sp.keyB
		if !f.onA {
			other = sp.keyA
		}
		set, err := idList(lv, other)
		if err != nil {
			return nil, err
		}
		b := &linkBody{form: &f, owner: owner, set: set}
		current, err := store.LinkedIDs(ctx, tx, sp.link, f.onA, owner)
		if err != nil {
			return nil, err
		}
		for _, id := range set {
			if f.allListed || !slices.Contains(current, id) {
				b.pairs = append(b.pairs, sp.pairOf(f.onA, owner, id))
			}
		}
		return b, nil
	}
	if add == nil {
		return nil, sp.noForm
	}
	return sp.parseItems(ctx, tx, add)
}

// parseItems reads the add form: one link object or a list of them.
func (sp *linkEndpoint) parseItems(ctx context.Context, tx pgx.Tx, add *structpb.Value) (*linkBody, error) {
	items := []*structpb.Value{add}
	if l := add.GetListValue(); l != nil {
		items = l.GetValues()
	}
	b := &linkBody{}
	for _, it := range items {
		st := it.GetStructValue()
		if u := st.GetFields()["device_uuid"]; sp.uuidA && u != nil {
			id, err := store.DeviceIDByUUID(ctx, tx, u.GetStringValue())
			if errors.Is(err, store.ErrNotFound) {
				return nil, apierr.InvalidArgument("Invalid device_uuid")
			} else if err != nil {
				return nil, err
			}
			st.Fields[sp.keyA] = structpb.NewNumberValue(float64(id))
		}
		a, okA := intField(st, sp.keyA)
		bb, okB := intField(st, sp.keyB)
		if !okA || !okB {
			return nil, sp.badItem
		}
		b.pairs = append(b.pairs, [2]int32{a, bb})
	}
	return b, nil
}

func (sp *linkEndpoint) pairOf(onA bool, owner, other int32) [2]int32 {
	if onA {
		return [2]int32{owner, other}
	}
	return [2]int32{other, owner}
}

// check refuses id (of side onA) when outside the rule's set.
func (r sideRule) check(ctx context.Context, tx pgx.Tx, m me, ids []int32) error {
	if len(ids) == 0 {
		return nil
	}
	bad, err := store.Inaccessible(ctx, tx, r.set(m), ids)
	return errOr(err, refusedIf(bad, r.err))
}

func refusedIf(bad []int32, err error) error {
	if len(bad) > 0 {
		return err
	}
	return nil
}

func side(pairs [][2]int32, onA bool) []int32 {
	out := make([]int32, 0, len(pairs))
	for _, p := range pairs {
		if onA {
			out = append(out, p[0])
		} else {
			out = append(out, p[1])
		}
	}
	return out
}

// write validates a parsed body and writes it, answering the links OpenTera answers.
func (sp *linkEndpoint) write(ctx context.Context, tx pgx.Tx, m me, b *linkBody) ([]store.LinkRow, error) {
	if f := b.form; f != nil {
		if f.owner != nil {
			if err := f.owner.check(ctx, tx, m, []int32{b.owner}); err != nil {
				return nil, err
			}
		}
		if f.removed != nil {
			current, err := store.LinkedIDs(ctx, tx, sp.link, f.onA, b.owner)
			if err != nil {
				return nil, err
			}
			var gone []int32
			for _, id := range current {
				if !slices.Contains(b.set, id) {
					gone = append(gone, id)
				}
			}
			if err := f.removed.check(ctx, tx, m, gone); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range sp.pair {
		if err := r.check(ctx, tx, m, side(b.pairs, r.onA)); err != nil {
			return nil, err
		}
	}
	if sp.prepare != nil {
		if err := sp.prepare(ctx, tx, b.pairs); err != nil {
			return nil, err
		}
	}
	if b.form == nil {
		rows, err := store.AddLinks(ctx, tx, sp.link, b.pairs)
		return rows, sp.refusal(err, nil)
	}
	var removable access.Fragment
	if b.form.removable != nil {
		removable = b.form.removable(m)
	}
	rows, err := store.ReplaceLinkSet(ctx, tx, sp.link, b.form.onA, b.owner, b.set, removable)
	if err != nil {
		return nil, sp.refusal(err, b.form.refused)
	}
	if b.form.allListed {
		return store.AddLinks(ctx, tx, sp.link, b.pairs)
	}
	return rows, nil
}

// refusal maps the schema's refusal of a write: a known prerequisite, a removal (removal), or
// an unknown id (400).
func (sp *linkEndpoint) refusal(err error, removal error) error {
	ie, ok := errors.AsType[*store.IntegrityError](err)
	switch {
	case !ok:
		return err
	case sp.integrity[ie.Message] != nil:
		return sp.integrity[ie.Message]
	case len(ie.Message) > 15 && ie.Message[:15] == "Database error:":
		return apierr.InvalidArgument("Badly formatted request")
	case removal != nil:
		return removal
	}
	return err
}

// post runs a POST of the link endpoint.
func (s *Service) postLinks(ctx context.Context, sp *linkEndpoint, wrappers []*structpb.Struct, add *structpb.Value) ([]store.LinkRow, error) {
	m := caller(ctx)
	var out []store.LinkRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b, err := sp.parse(ctx, tx, wrappers, add)
		if err != nil {
			return err
		}
		out, err = sp.write(ctx, tx, m, b)
		return err
	})
	return out, err
}

// removeLink runs a DELETE by link id.
func (s *Service) removeLink(ctx context.Context, sp *linkEndpoint, id *int32) error {
	m := caller(ctx)
	return s.deleteByID(ctx, id, func(tx pgx.Tx, id int32) error {
		a, b, err := store.LinkByID(ctx, tx, sp.link, id)
		if errors.Is(err, store.ErrNotFound) {
			return sp.del.notFound
		} else if err != nil {
			return err
		}
		for _, r := range sp.del.rules {
			if err := r.check(ctx, tx, m, side([][2]int32{{a, b}}, r.onA)); err != nil {
				return err
			}
		}
		err = store.DeleteLinkByID(ctx, tx, sp.link, id)
		if ie, ok := errors.AsType[*store.IntegrityError](err); ok && sp.del.refused != nil {
			return sp.del.refused(ie.Message)
		}
		return err
	})
}

// linkSelector is one selector of a link GET: when id is set, the caller must see the object o
// of that id (else OpenTera's empty list), and q lists its links.
type linkSelector struct {
	id int32
	o  access.Object
	q  store.LinkQuery
}

// selectLinks lists, mapped by item, the links of the first selector set (OpenTera's order of
// precedence); flags says whether a parameter other than the selectors is set (none at all: 400).
func selectLinks[T any](ctx context.Context, s *Service, l store.Link, flags bool, item func(store.LinkRow) T, sels ...linkSelector) ([]T, error) {
	var q *store.LinkQuery
	var err error
	for _, sl := range sels {
		if sl.id != 0 {
			q, err = s.visible(ctx, caller(ctx), sl.o, sl.id, sl.q)
			flags = true
			break
		}
	}
	rows, err := s.listLinks(ctx, l, err, flags, q)
	return mapEach(rows, item), err
}

// postLinkItems runs a POST of a link endpoint and maps the links it answers.
func postLinkItems[T any](ctx context.Context, s *Service, sp *linkEndpoint, wrappers []*structpb.Struct, add *structpb.Value, item func(store.LinkRow) T) ([]T, error) {
	rows, err := s.postLinks(ctx, sp, wrappers, add)
	return mapEach(rows, item), err
}

// listLinks lists links; a zero selector list (no parameter set) is OpenTera's 400.
// err is the selector's access check.
func (s *Service) listLinks(ctx context.Context, l store.Link, err error, any bool, q *store.LinkQuery) ([]store.LinkRow, error) {
	if err != nil {
		return nil, err
	}
	if !any {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	if q == nil {
		return []store.LinkRow{}, nil
	}
	rows, err := store.ListLinks(ctx, s.db, l, *q)
	return rows, s.dbError(ctx, err)
}

// visible answers q when the caller sees id of object o, else nil (OpenTera's empty list).
func (s *Service) visible(ctx context.Context, m me, o access.Object, id int32, q store.LinkQuery) (*store.LinkQuery, error) {
	ok, err := m.acc.Can(ctx, s.db, o, id)
	if err != nil || !ok {
		return nil, s.dbError(ctx, err)
	}
	return &q, nil
}

// typeSitesEndpoint is /api/user/<type>/sites of session types and test types: the forms
// {"<obj>": {id_<obj>, sites}} (its admins replace its sites) and {"site": {id_site, <objs>}}
// (the site's admins replace its types), and a link written needs an administered site and a
// type the caller sees; used is the schema's refusal of a removal.
func typeSitesEndpoint(link store.Link, obj, plural string, admin, seen sideSet, used string) *linkEndpoint {
	id := "id_" + obj
	return &linkEndpoint{
		link: link, keyA: id, keyB: "id_site",
		forms: []linkForm{
			{name: obj, onA: true, idKey: id, listKey: "sites", missingID: "Missing " + id, missingSet: "Missing sites",
				owner: &sideRule{true, admin, apierr.Forbidden("Access denied")}, removable: adminSites, refused: apierr.Integrity(used)},
			{name: "site", idKey: "id_site", listKey: strings.ReplaceAll(plural, " ", ""), missingID: "Missing site ID", missingSet: "Missing " + plural,
				owner: &sideRule{false, adminSites, apierr.Forbidden("Access denied")}, refused: apierr.Integrity(used)},
		},
		noForm: apierr.InvalidArgument(""), badItem: apierr.InvalidArgument("Badly formatted request"),
		pair: []sideRule{{false, adminSites, apierr.Forbidden("Forbidden")}, {true, seen, apierr.Forbidden("Forbidden")}},
		del: linkDelete{notFound: apierr.InvalidArgument("Bad parameter"), rules: []sideRule{{false, adminSites, apierr.Forbidden("Forbidden")}},
			refused: func(string) error { return apierr.Integrity(used) }},
	}
}

// serviceTypeProjectsEndpoint is /api/service/<type>/projects of session types and test types:
// the service's own types (the types it sees) in the projects it sees. OpenTera's form
// "project" also removes the other services' types from the project; Tera only the service's
// own. A type put in a project joins the project's site first (typeSites), as OpenTera does at
// service level; used is the schema's refusal of a removal.
func serviceTypeProjectsEndpoint(link, typeSites store.Link, obj, listKey, plural string, seen sideSet, used string) *linkEndpoint {
	id := "id_" + obj
	return &linkEndpoint{
		link: link, keyA: id, keyB: "id_project",
		forms: []linkForm{
			{name: obj, onA: true, idKey: id, listKey: "projects", missingID: "Missing " + id, missingSet: "Missing projects",
				owner: &sideRule{true, seen, apierr.Forbidden("Forbidden")}, removable: adminProjects,
				removed: &sideRule{false, adminProjects, apierr.Forbidden("Access denied to at least one project")}, refused: apierr.Integrity(used)},
			{name: "project", idKey: "id_project", listKey: listKey, missingID: "Missing project ID", missingSet: "Missing " + plural,
				owner: &sideRule{false, adminProjects, apierr.Forbidden("Forbidden")}, removable: seen, refused: apierr.Integrity(used)},
		},
		noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
		pair: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}, {true, seen, apierr.Forbidden("Forbidden")}},
		prepare: func(ctx context.Context, tx pgx.Tx, pairs [][2]int32) error {
			sites, err := store.ProjectSitePairs(ctx, tx, pairs)
			if err == nil {
				_, err = store.AddLinks(ctx, tx, typeSites, sites)
			}
			return err
		},
		del: linkDelete{notFound: apierr.InvalidArgument("Not found"),
			rules:   []sideRule{{false, seenProjects, apierr.Forbidden("Forbidden")}, {true, seen, apierr.Forbidden("Forbidden")}},
			refused: func(string) error { return apierr.Integrity(used) }},
	}
}

// Side sets used by the rules.
var (
	adminSites        sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().Sites() }
	adminProjects     sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().Projects() }
	adminDevices      sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().Devices() }
	adminParticipants sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().Participants() }
	adminTypes        sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().SessionTypes() }
	adminServices     sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().Services() }
	seenDevices       sideSet = func(m me) access.Fragment { return m.acc.Devices() }
	seenTypes         sideSet = func(m me) access.Fragment { return m.acc.SessionTypes() }
	// Projects of the sites the caller administers (OpenTera's get_site_role(project.id_site)).
	siteAdminProjects sideSet = func(m me) access.Fragment { return projectsOfSites(m.acc.AdminOnly().Sites()) }
)

// names sets the name fields of a link item unless list.
func names(list bool, r store.LinkRow) (a, b *structpb.Value) {
	if list {
		return nil, nil
	}
	return nullable(r.AName), nullable(r.BName)
}

// projectSite sets the site fields of a project link item with sites, unless list.
func projectSite(list, sites bool, r store.LinkRow) (id, name *structpb.Value) {
	if list || !sites {
		return nil, nil
	}
	return nullableInt(r.Site), nullable(r.SiteName)
}
