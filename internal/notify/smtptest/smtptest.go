// Package smtptest is a small SMTP server for tests, in the spirit of
// net/http/httptest: it listens on 127.0.0.1, speaks enough of SMTP for
// net/smtp (EHLO, STARTTLS with a self-signed certificate, implicit TLS,
// AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps the messages
// it accepts. It can refuse on purpose: temporarily (4xx) for a number of
// messages, or permanently (5xx) for some recipients.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"
)

// Message is a mail the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte // as received, dot-stuffing removed, CRLF line ends
	TLS  bool   // the session was encrypted (STARTTLS or implicit)
	User string // who authenticated, "" if nobody
}

// Config says how the server behaves; the zero value is a plain server
// without TLS or authentication.
type Config struct {
	// TLS offers STARTTLS (or, with Implicit, speaks TLS from the first
	// byte). NewCert makes a self-signed one.
	TLS      *tls.Config
	Implicit bool
	// User and Password, if set, offer AUTH PLAIN and require it before
	// MAIL.
	User, Password string
	// FailFirst answers the DATA of the first FailFirst messages with a
	// temporary "451" (nothing is kept), as a busy server does.
	FailFirst int
	// Reject answers RCPT for these addresses with a permanent "550".
	Reject map[string]bool
	// BeforeAnswer, if set, is called when a message's data has arrived,
	// before the server answers it (as a slow server is): it returns
	// whether to go on. false cuts the connection without an answer and
	// keeps nothing, as a server that fails in the middle of DATA does.
	BeforeAnswer func(m Message) bool
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port
	cfg  Config
	ln   net.Listener

	mu       sync.Mutex
	messages []Message
	failed   int // DATA answered 451 so far
	arrived  chan struct{}
	wg       sync.WaitGroup
	closed   bool
	open     map[net.Conn]bool
}

// NewServer starts a server on 127.0.0.1 with the configuration.
func NewServer(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), cfg: cfg, ln: ln, arrived: make(chan struct{}, 1<<16), open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops the server and ends its sessions.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait waits until n messages have been accepted, at most timeout, and
// returns the messages then held.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			return s.Messages()
		}
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.open[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session speaks SMTP on one connection; every read has a deadline, so a
// silent client cannot hold it forever.
func (s *Server) session(c net.Conn) {
	secure := false
	if s.cfg.Implicit {
		tc := tls.Server(c, s.cfg.TLS)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		c, secure = tc, true
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	reply("220 smtptest ESMTP ready")
	var user, from string
	var to []string
	for n := 0; n < 1000; n++ {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-smtptest greets " + arg}
			if s.cfg.TLS != nil && !secure {
				lines = append(lines, "250-STARTTLS")
			}
			if s.cfg.User != "" {
				lines = append(lines, "250-AUTH PLAIN")
			}
			reply(append(lines, "250 8BITMIME")...)
		case "HELO":
			reply("250 smtptest")
		case "STARTTLS":
			if s.cfg.TLS == nil || secure {
				reply("502 5.5.1 STARTTLS not offered")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
			user, from, to = "", "", nil
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if s.cfg.User == "" || !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 unrecognised authentication type")
				continue
			}
			if resp == "" {
				reply("334 ")
				if resp, err = r.ReadString('\n'); err != nil {
					return
				}
				resp = strings.TrimRight(resp, "\r\n")
			}
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := bytes.Split(b, []byte{0})
			if err != nil || len(parts) != 3 || string(parts[1]) != s.cfg.User || string(parts[2]) != s.cfg.Password {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			user = s.cfg.User
			reply("235 2.7.0 authentication successful")
		case "MAIL":
			if s.cfg.User != "" && user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			from, to = addr(arg), nil
			reply("250 2.1.0 ok")
		case "RCPT":
			a := addr(arg)
			if s.cfg.Reject[a] {
				reply("550 5.1.1 no such mailbox: " + a)
				continue
			}
			to = append(to, a)
			reply("250 2.1.5 ok")
		case "DATA":
			if from == "" || len(to) == 0 {
				reply("503 5.5.1 need MAIL and RCPT first")
				continue
			}
			reply("354 end data with <CR><LF>.<CR><LF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				l = strings.TrimPrefix(l, ".")
				data.WriteString(strings.TrimRight(l, "\r\n") + "\r\n")
				if data.Len() > 10<<20 {
					reply("552 5.3.4 message too big")
					return
				}
			}
			if s.cfg.BeforeAnswer != nil && !s.cfg.BeforeAnswer(Message{From: from, To: to, Data: data.Bytes(), TLS: secure, User: user}) {
				return
			}
			s.mu.Lock()
			if s.failed < s.cfg.FailFirst {
				s.failed++
				s.mu.Unlock()
				reply("451 4.3.0 try again later")
				continue
			}
			s.messages = append(s.messages, Message{From: from, To: to, Data: data.Bytes(), TLS: secure, User: user})
			s.mu.Unlock()
			select {
			case s.arrived <- struct{}{}:
			default: // Wait looks at the messages anyway
			}
			from, to = "", nil
			reply("250 2.0.0 queued")
		case "RSET":
			from, to = "", nil
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

// addr takes the address out of "FROM:<a@b> SIZE=…" or "TO:<a@b>".
func addr(arg string) string {
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		if j := strings.IndexByte(arg[i:], '>'); j >= 0 {
			return strings.ToLower(arg[i+1 : i+j])
		}
	}
	return ""
}

// NewCert makes a self-signed certificate for 127.0.0.1 and localhost,
// valid for a day, and returns the server's TLS configuration and a pool
// that trusts it (for the client).
func NewCert() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}, pool, nil
}
