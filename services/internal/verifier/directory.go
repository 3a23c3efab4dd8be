package verifier

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/authn"
)

// Directory is authn.Directory over schema core.
type Directory struct{ DB *pgxpool.Pool }

var _ authn.Directory = (*Directory)(nil)

const (
	userCols = `id_user, user_uuid, user_firstname || ' ' || user_lastname, user_enabled, user_password, user_superadmin,
		user_2fa_enabled, user_2fa_otp_enabled, coalesce(user_2fa_otp_secret, ''), user_force_password_change
		FROM core.t_users WHERE deleted_at IS NULL`
	participantCols = `p.id_participant, p.participant_uuid, p.participant_name, p.participant_enabled AND pr.project_enabled,
		coalesce(p.participant_password, ''), p.participant_login_enabled, coalesce(p.participant_token, '')
		FROM core.t_participants p JOIN core.t_projects pr ON pr.id_project = p.id_project WHERE p.deleted_at IS NULL`
	deviceCols  = `id_device, device_uuid, device_name, device_enabled, coalesce(device_token, '') FROM core.t_devices WHERE deleted_at IS NULL`
	serviceCols = `id_service, service_uuid, service_name, service_enabled FROM core.t_services WHERE deleted_at IS NULL`
)

func scanUser(row pgx.Row) (*authn.Principal, error) {
	p := &authn.Principal{Kind: authn.KindUser}
	err := row.Scan(&p.ID, &p.UUID, &p.Name, &p.Enabled, &p.PasswordHash, &p.Superadmin, &p.TwoFA, &p.TwoFAOTP, &p.OTPSecret, &p.ForcePasswordChange)
	return found(p, err)
}

func scanParticipant(row pgx.Row) (*authn.Principal, error) {
	p := &authn.Principal{Kind: authn.KindParticipant}
	err := row.Scan(&p.ID, &p.UUID, &p.Name, &p.Enabled, &p.PasswordHash, &p.LoginEnabled, &p.StaticToken)
	return found(p, err)
}

func scanDevice(row pgx.Row) (*authn.Principal, error) {
	p := &authn.Principal{Kind: authn.KindDevice}
	err := row.Scan(&p.ID, &p.UUID, &p.Name, &p.Enabled, &p.StaticToken)
	return found(p, err)
}

func scanService(row pgx.Row) (*authn.Principal, error) {
	p := &authn.Principal{Kind: authn.KindService}
	err := row.Scan(&p.ID, &p.UUID, &p.Name, &p.Enabled)
	return found(p, err)
}

func found(p *authn.Principal, err error) (*authn.Principal, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ByUsername implements authn.Directory.
func (d *Directory) ByUsername(ctx context.Context, kind authn.Kind, username string) (*authn.Principal, error) {
	switch kind {
	case authn.KindUser:
		return scanUser(d.DB.QueryRow(ctx, `SELECT `+userCols+` AND user_username = $1`, username))
	case authn.KindParticipant:
		return scanParticipant(d.DB.QueryRow(ctx, `SELECT `+participantCols+` AND p.participant_username = $1`, username))
	}
	return nil, nil
}

// ByUUID implements authn.Directory.
func (d *Directory) ByUUID(ctx context.Context, kind authn.Kind, uuid string) (*authn.Principal, error) {
	switch kind {
	case authn.KindUser:
		return scanUser(d.DB.QueryRow(ctx, `SELECT `+userCols+` AND user_uuid = $1`, uuid))
	case authn.KindParticipant:
		return scanParticipant(d.DB.QueryRow(ctx, `SELECT `+participantCols+` AND p.participant_uuid = $1`, uuid))
	case authn.KindDevice:
		return scanDevice(d.DB.QueryRow(ctx, `SELECT `+deviceCols+` AND device_uuid = $1`, uuid))
	case authn.KindService:
		return scanService(d.DB.QueryRow(ctx, `SELECT `+serviceCols+` AND service_uuid = $1`, uuid))
	}
	return nil, nil
}

// ByStaticToken implements authn.Directory.
func (d *Directory) ByStaticToken(ctx context.Context, kind authn.Kind, token string) (*authn.Principal, error) {
	switch kind {
	case authn.KindParticipant:
		return scanParticipant(d.DB.QueryRow(ctx, `SELECT `+participantCols+` AND p.participant_token_enabled AND p.participant_token = $1`, token))
	case authn.KindDevice:
		return scanDevice(d.DB.QueryRow(ctx, `SELECT `+deviceCols+` AND device_token = $1`, token))
	}
	return nil, nil
}
