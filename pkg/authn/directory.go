package authn

import "context"

// Principal is what the verifier needs to know about a user, participant, device or service.
// Lookups return (nil, nil) for unknown or soft-deleted principals.
type Principal struct {
	Kind Kind
	ID   int64
	UUID string
	Name string
	// Enabled: user_enabled, participant_enabled (and its project enabled), device_enabled,
	// service_enabled.
	Enabled bool
	// PasswordHash is the bcrypt hash (users; participants with login enabled).
	PasswordHash string
	// LoginEnabled: participant_login_enabled (participants only).
	LoginEnabled bool
	// Users only.
	Superadmin          bool
	TwoFA               bool
	TwoFAOTP            bool
	OTPSecret           string
	ForcePasswordChange bool
	// StaticToken is the participant's or device's stored static token.
	StaticToken string
}

// Directory looks principals up (PostgreSQL in the fleet).
type Directory interface {
	// ByUsername finds a user (KindUser) or participant (KindParticipant) by username.
	ByUsername(ctx context.Context, kind Kind, username string) (*Principal, error)
	// ByUUID finds any principal by uuid.
	ByUUID(ctx context.Context, kind Kind, uuid string) (*Principal, error)
	// ByStaticToken finds a participant or device whose stored token equals token.
	ByStaticToken(ctx context.Context, kind Kind, token string) (*Principal, error)
}
