package login

import (
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/logstream"
)

// SubjectLogin carries a LoginEvent for every login success and failure (ARCHITECTURE §3).
const SubjectLogin = logstream.SubjectLogin

type loginType = eventsv1.LoginEvent_LoginType

const (
	typeToken       = eventsv1.LoginEvent_LOGIN_TYPE_TOKEN
	typePassword    = eventsv1.LoginEvent_LOGIN_TYPE_PASSWORD
	typeCertificate = eventsv1.LoginEvent_LOGIN_TYPE_CERTIFICATE
)

func loginTypeOf(m authn.Method) loginType {
	switch m {
	case authn.MethodPassword:
		return typePassword
	case authn.MethodCertificate:
		return typeCertificate
	}
	return typeToken
}

// statusOf maps a verification error to OpenTera's LoginEvent status.
func statusOf(err error) eventsv1.LoginEvent_LoginStatus {
	if err == nil {
		return eventsv1.LoginEvent_LOGIN_STATUS_SUCCESS
	}
	if ae, ok := err.(*authn.Error); ok && ae.Reason >= 2 && ae.Reason <= 8 {
		return eventsv1.LoginEvent_LoginStatus(ae.Reason)
	}
	return eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_INVALID_TOKEN
}

// event publishes a LoginEvent. kind/uuid name the principal when known.
func (s *Service) event(r *http.Request, typ loginType, status eventsv1.LoginEvent_LoginStatus, kind authn.Kind, uuid, message string) {
	level := eventsv1.LogEvent_LOGLEVEL_INFO
	if status != eventsv1.LoginEvent_LOGIN_STATUS_SUCCESS {
		level = eventsv1.LogEvent_LOGLEVEL_WARNING
	}
	ev := &eventsv1.LoginEvent{
		LogHeader: &eventsv1.LogEvent{Level: level, Timestamp: float64(s.o.Now().UnixNano()) / 1e9, Sender: "login", Message: message},
		LoginType: typ, LoginStatus: status,
		ClientName: r.Header.Get("X-Client-Name"), ClientVersion: r.Header.Get("X-Client-Version"),
		ClientIp: s.clientIP(r), OsName: r.Header.Get("X-Os-Name"), OsVersion: r.Header.Get("X-Os-Version"),
		ServerEndpoint: r.URL.Path,
	}
	switch kind {
	case authn.KindUser:
		ev.UserUuid = uuid
	case authn.KindParticipant:
		ev.ParticipantUuid = uuid
	case authn.KindDevice:
		ev.DeviceUuid = uuid
	case authn.KindService:
		ev.ServiceUuid = uuid
	}
	b, err := proto.Marshal(ev)
	if err == nil && s.o.NATS != nil {
		err = s.o.NATS.Publish(SubjectLogin, b)
	}
	if err != nil {
		s.log.Warn("login event not published", "err", err)
	}
}

// failed publishes the LoginEvent of a failed authentication.
func (s *Service) failed(r *http.Request, typ loginType, kind authn.Kind, err error) {
	uuid := ""
	if ae, ok := err.(*authn.Error); ok {
		uuid = ae.UUID
		if ae.Kind != 0 {
			kind = ae.Kind
		}
	}
	s.event(r, typ, statusOf(err), kind, uuid, "login failed")
}

// disconnect asks the websocket target to close a client's sockets (OpenTera's
// CMD_CLIENT_DISCONNECT on TwistedModule.events.<uuid>), on tera.client.<kind>.<uuid>.
func (s *Service) disconnect(kind authn.Kind, uuid string) {
	if s.o.NATS == nil {
		return
	}
	cmd, _ := anypb.New(&eventsv1.ServerCommand{Type: eventsv1.ServerCommand_CMD_CLIENT_DISCONNECT})
	msg := &eventsv1.TeraModuleMessage{
		Head: &eventsv1.TeraModuleMessage_Header{Version: 1, Time: float64(time.Now().UnixNano()) / 1e9, Source: "login"},
		Data: []*anypb.Any{cmd},
	}
	b, err := proto.Marshal(msg)
	if err == nil {
		err = s.o.NATS.Publish("tera.client."+kindName(kind)+"."+uuid, b)
	}
	if err != nil {
		s.log.Warn("disconnect command not published", "err", err)
	}
}

func kindName(k authn.Kind) string {
	switch k {
	case authn.KindUser:
		return "user"
	case authn.KindParticipant:
		return "participant"
	case authn.KindDevice:
		return "device"
	}
	return "service"
}
