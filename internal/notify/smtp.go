package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Message is one mail to one person: a plain-text and an HTML part.
type Message struct {
	To      string // an address, "alice@example.com"
	Subject string
	Text    string
	HTML    string
	// ID names the message for good (a notice's id): its Message-ID is
	// made from it, so a copy sent again after a lost answer (a sender
	// that died mid-send) carries the same one and mail systems can drop
	// it. Empty: a new Message-ID each time.
	ID string
}

// Mailer sends mail.
type Mailer interface {
	// Send delivers the message to the server. An error that retrying
	// cannot fix (the server refused the recipient or the message for
	// good) is a *PermanentError; any other may pass if tried later.
	Send(ctx context.Context, m *Message) error
}

// PermanentError is a refusal no retry can fix: a 5xx answer to the
// sender, the recipient or the message, or an address that is not one.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// SMTP sends mail through an SMTP server with net/smtp: on an smtp:// URL
// it upgrades the connection with STARTTLS when the server offers it, on
// smtps:// it speaks TLS from the start; credentials in the URL are sent
// with AUTH PLAIN, which net/smtp refuses to do over a connection that is
// not encrypted (except to localhost). Each message is one connection.
type SMTP struct {
	addr     string // host:port
	host     string
	implicit bool
	user     string
	pass     string
	from     mail.Address
	redacted string

	// TLS is the client's TLS configuration (nil: the system's roots and
	// the URL's host). Tests set RootCAs to trust their server.
	TLS *tls.Config
	// Timeout bounds one message, connection included (default 30 s).
	Timeout time.Duration
}

// DefaultSMTPTimeout bounds the sending of one message.
const DefaultSMTPTimeout = 30 * time.Second

// NewSMTP returns a mailer for the server URL (smtp://user:pass@host:587
// or smtps://user:pass@host:465; the user and password are optional and
// percent-encoded) sending as from ("SnapGlyph <noreply@example.com>").
// Returns EINVALID, never showing the password.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the SMTP URL is not a URL; write smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	m := &SMTP{redacted: u.Redacted()}
	port := ""
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		port = "587"
	case "smtps":
		port, m.implicit = "465", true
	default:
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the SMTP URL %s must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)", m.redacted)
	}
	m.host = u.Hostname()
	if m.host == "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the SMTP URL %s has no host", m.redacted)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "the SMTP URL %s has a bad port", m.redacted)
		}
		port = p
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the SMTP URL %s has a path or query; give only smtp://user:password@host:port", m.redacted)
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	if from == "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "mail needs a sender: set --mail-from, e.g. \"SnapGlyph <noreply@example.com>\"")
	}
	if msg := snapglyph.TextProblem(from); msg != "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the sender address %s", msg)
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the sender %q is not an address like \"SnapGlyph <noreply@example.com>\"", from)
	}
	m.from = *a
	return m, nil
}

// String describes the server without its password.
func (m *SMTP) String() string { return m.redacted }

// From returns the sender.
func (m *SMTP) From() string { return m.from.String() }

// Send delivers one message; see Mailer.
func (m *SMTP) Send(ctx context.Context, msg *Message) error {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return &PermanentError{fmt.Errorf("smtp: %q is not an address", msg.To)}
	}
	data, err := m.compose(msg, to)
	if err != nil {
		return &PermanentError{err}
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer conn.Close()
	// net/smtp has no context: the deadline bounds every exchange, and a
	// cancelled context cuts the connection.
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	cfg := m.tlsConfig()
	if m.implicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp: TLS with %s: %w", m.addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if !m.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(cfg); err != nil {
				return fmt.Errorf("smtp: STARTTLS with %s: %w", m.addr, err)
			}
		}
	}
	if m.user != "" {
		// A wrong password is the operator's to fix: retried, not
		// permanent.
		if err := c.Auth(smtp.PlainAuth("", m.user, m.pass, m.host)); err != nil {
			return fmt.Errorf("smtp: AUTH as %s: %w", m.user, err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return refusal("MAIL FROM", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return refusal("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return refusal("DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return refusal("DATA", err)
	}
	c.Quit()
	return nil
}

// refusal wraps an SMTP error: a 5xx answer is permanent.
func refusal(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &PermanentError{fmt.Errorf("smtp: %s: %w", step, err)}
	}
	return fmt.Errorf("smtp: %s: %w", step, err)
}

func (m *SMTP) tlsConfig() *tls.Config {
	if m.TLS != nil {
		c := m.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName = m.host
		}
		return c
	}
	return &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}
}

// helloName is what we call ourselves in EHLO: the machine's name.
func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// compose writes the message: headers, then a multipart/alternative body
// with the text and HTML parts in quoted-printable.
func (m *SMTP) compose(msg *Message, to *mail.Address) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ typ, content string }{{"text/plain", msg.Text}, {"text/html", msg.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(strings.ReplaceAll(part.content, "\r\n", "\n"))); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var id [12]byte
	if msg.ID != "" {
		sum := sha256.Sum256([]byte("snapglyph message " + msg.ID))
		copy(id[:], sum[:])
	} else {
		rand.Read(id[:])
	}
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", m.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", headerText(msg.Subject, 200))},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/alternative; boundary=" + mw.Boundary()},
	} {
		writeHeader(&b, h[0], h[1])
	}
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// maxHeaderLine is the longest line a header is folded to, CRLF aside
// (RFC 5322 2.1.1 recommends 78; 998 is the hard limit).
const maxHeaderLine = 78

// writeHeader writes "name: value" folded at its spaces so that no line is
// longer than maxHeaderLine where a space allows it. value is ASCII: an
// encoded subject is encoded words separated by single spaces (each at
// most 75 characters, RFC 2047), which a reader joins again without the
// spaces; plain text keeps its spaces, since unfolding only removes the
// CRLF. A first word that does not fit beside the name starts the next
// line.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ":")
	line := len(name) + 1
	for i, w := range strings.Split(value, " ") {
		if w == "" && i > 0 {
			// Two spaces in a row (plain text): keep them, unfolded.
			b.WriteByte(' ')
			line++
			continue
		}
		if line+1+len(w) > maxHeaderLine {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" " + w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
}

// headerText makes s safe for a header: one line without control
// characters, valid UTF-8, at most max characters.
func headerText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) {
			r = ' '
		}
		if n == max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
