package labelled

import (
	"net/netip"
	"time"
)

type User struct {
	ID              string     // other
	Username        string     // other
	Email           string     // personal
	DisplayName     string     // personal
	AvatarURL       string     // other
	PasswordHash    []byte     // other
	Role            string     // other
	TenantID        string     // other
	LastLoginIP     string     // personal
	LastLoginAt     time.Time  // other
	Locale          string     // other
	TimeZone        string     // other
	MFAEnabled      bool       // other
	EmailVerifiedAt *time.Time // other
	PhoneNumber     string     // personal
}

type Session struct {
	ID        string     // other
	UserID    string     // other
	IPAddress string     // personal
	UserAgent string     // other
	DeviceID  string     // personal
	CreatedAt time.Time  // other
	ExpiresAt time.Time  // other
	Token     string     // other
	Remote    netip.Addr // personal
}

type Tenant struct {
	ID           string    // other
	Name         string    // other
	Slug         string    // other
	Plan         string    // other
	BillingEmail string    // personal
	Domain       string    // other
	CreatedAt    time.Time // other
	SeatCount    int       // other
}

type AuditEvent struct {
	ID         string    // other
	ActorID    string    // other
	Action     string    // other
	Resource   string    // other
	RemoteAddr string    // personal
	At         time.Time // other
	RequestID  string    // other
	TypeName   string    // other
}

type Config struct {
	ListenAddr   string // other
	DatabaseURL  string // other
	SMTPHost     string // other
	SMTPUsername string // other
	SMTPPassword string // other
	SupportEmail string // other
	MetricsAddr  string // other
	LogLevel     string // other
	RedisAddr    string // other
	Hostname     string // other
}

type APIKey struct {
	ID         string    // other
	Name       string    // other
	Prefix     string    // other
	Hash       []byte    // other
	Scopes     []string  // other
	LastUsedAt time.Time // other
	LastUsedIP string    // personal
}

type AnalyticsEvent struct {
	Name          string            // other
	Properties    map[string]string // other
	Latitude      float64           // personal
	Longitude     float64           // personal
	MACAddress    string            // personal
	IMEI          string            // personal
	AdvertisingID string            // personal
	AppVersion    string            // other
	OSVersion     string            // other
	ScreenWidth   int               // other
}

type Upload struct {
	Filename string // other
	Size     int64  // other
	MimeType string // other
	Path     string // other
	Checksum string // other
}
