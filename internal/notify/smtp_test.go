package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
)

// newSMTPServer starts a test server (closed with the test).
func newSMTPServer(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	s, err := smtptest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// parsed is a received message taken apart as a mail client would.
type parsed struct {
	header  mail.Header
	subject string
	text    string
	html    string
}

func parse(t *testing.T, m smtptest.Message) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, m.Data)
	}
	p := parsed{header: msg.Header}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = string(b)
		case "text/html; charset=utf-8":
			p.html = string(b)
		default:
			t.Errorf("part of type %q", ct)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("a part is missing: text %q, html %q", p.text, p.html)
	}
	return p
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	cert, pool, err := smtptest.NewCert()
	if err != nil {
		t.Fatal(err)
	}
	srv := newSMTPServer(t, smtptest.Config{TLS: cert, User: "mailer", Password: "s3cret p@ss"})
	m, err := notify.NewSMTP("smtp://mailer:s3cret%20p%40ss@"+srv.Addr, "SnapGlyph <noreply@snapglyph.test>")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.String(), "s3cret") {
		t.Errorf("the mailer shows its password: %s", m)
	}
	m.TLS = &tls.Config{RootCAs: pool}
	msg := &notify.Message{
		To:      "alice@acme.test",
		Subject: "Crème brûlée\r\nBcc: mallory@evil.test",
		Text:    "Hello,\nline two with a long line " + strings.Repeat("x", 120) + "\n.\nend",
		HTML:    "<p>Hello <b>Alice</b> — ünïcode</p>",
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	if !got[0].TLS || got[0].User != "mailer" || got[0].From != "noreply@snapglyph.test" || len(got[0].To) != 1 || got[0].To[0] != "alice@acme.test" {
		t.Fatalf("envelope %+v", got[0])
	}
	p := parse(t, got[0])
	if p.subject != "Crème brûlée  Bcc: mallory@evil.test" || p.header.Get("Bcc") != "" {
		t.Errorf("subject %q, Bcc %q: a header was injected", p.subject, p.header.Get("Bcc"))
	}
	if p.text != strings.ReplaceAll(msg.Text, "\n", "\r\n") {
		t.Errorf("text part %q", p.text)
	}
	if p.html != msg.HTML {
		t.Errorf("html part %q", p.html)
	}
	if p.header.Get("From") != `"SnapGlyph" <noreply@snapglyph.test>` || p.header.Get("To") != "<alice@acme.test>" || p.header.Get("Message-Id") == "" || p.header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers %v", p.header)
	}

	// A message sent twice under one ID (a notice sent again after its
	// sender died mid-send) has one Message-ID, so mail systems can drop
	// the copy (review 6); without an ID, or with another, each differs.
	ids := map[string]bool{}
	for _, id := range []string{"org_1 notice 7", "org_1 notice 7", "org_1 notice 8", "", ""} {
		msg.ID = id
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	got = srv.Wait(6, 5*time.Second)
	if len(got) != 6 {
		t.Fatalf("%d messages", len(got))
	}
	for _, g := range got[1:] {
		ids[parse(t, g).header.Get("Message-Id")] = true
	}
	first := parse(t, got[1]).header.Get("Message-Id")
	if parse(t, got[2]).header.Get("Message-Id") != first || len(ids) != 4 || !strings.HasSuffix(first, "@snapglyph.test>") {
		t.Errorf("Message-IDs %v: want the two sends of one ID alike, the others apart", ids)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	cert, pool, err := smtptest.NewCert()
	if err != nil {
		t.Fatal(err)
	}
	srv := newSMTPServer(t, smtptest.Config{TLS: cert, Implicit: true})
	m, err := notify.NewSMTP("smtps://"+srv.Addr, "noreply@snapglyph.test")
	if err != nil {
		t.Fatal(err)
	}
	m.TLS = &tls.Config{RootCAs: pool}
	if err := m.Send(context.Background(), &notify.Message{To: "bob@acme.test", Subject: "Hi", Text: "t", HTML: "h"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(1, 5*time.Second); len(got) != 1 || !got[0].TLS {
		t.Fatalf("messages %+v", got)
	}
	// The certificate is checked: without trusting it nothing is sent.
	m.TLS = nil
	err = m.Send(context.Background(), &notify.Message{To: "bob@acme.test", Subject: "Hi", Text: "t", HTML: "h"})
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// TestSMTPStartTLSUntrusted: a server that offers STARTTLS with a
// certificate we do not trust gets nothing, not even the password.
func TestSMTPStartTLSUntrusted(t *testing.T) {
	cert, _, err := smtptest.NewCert()
	if err != nil {
		t.Fatal(err)
	}
	srv := newSMTPServer(t, smtptest.Config{TLS: cert, User: "u", Password: "p"})
	m, err := notify.NewSMTP("smtp://u:p@"+srv.Addr, "noreply@snapglyph.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), &notify.Message{To: "a@acme.test", Subject: "s", Text: "t", HTML: "h"}); err == nil {
		t.Fatal("sent through an untrusted STARTTLS")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages", n)
	}
}

func TestSMTPRefusals(t *testing.T) {
	srv := newSMTPServer(t, smtptest.Config{FailFirst: 1, Reject: map[string]bool{"gone@acme.test": true}})
	m, err := notify.NewSMTP("smtp://"+srv.Addr, "noreply@snapglyph.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := &notify.Message{To: "a@acme.test", Subject: "s", Text: "t", HTML: "h"}
	if err := m.Send(ctx, msg); err == nil || notify.IsPermanent(err) {
		t.Fatalf("a 451: %v (permanent %v)", err, notify.IsPermanent(err))
	}
	if err := m.Send(ctx, msg); err != nil {
		t.Fatalf("after the 451: %v", err)
	}
	if err := m.Send(ctx, &notify.Message{To: "gone@acme.test", Subject: "s", Text: "t", HTML: "h"}); !notify.IsPermanent(err) {
		t.Fatalf("a 550: %v", err)
	}
	if err := m.Send(ctx, &notify.Message{To: "not an address", Subject: "s", Text: "t", HTML: "h"}); !notify.IsPermanent(err) {
		t.Fatalf("a bad address: %v", err)
	}
	// Wrong credentials are the operator's to fix: tried again later.
	auth := newSMTPServer(t, smtptest.Config{User: "u", Password: "right"})
	m, _ = notify.NewSMTP("smtp://u:wrong@"+auth.Addr, "noreply@snapglyph.test")
	if err := m.Send(ctx, msg); err == nil || notify.IsPermanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad password: %v", err)
	}
	if got := len(srv.Messages()) + len(auth.Messages()); got != 1 {
		t.Fatalf("%d messages accepted, want 1", got)
	}
	// Nothing listening: a network error, tried again later.
	srv.Close()
	if err := m.Send(ctx, msg); err == nil || notify.IsPermanent(err) {
		t.Fatalf("no server: %v", err)
	}
}

func TestNewSMTPRefusesBadConfig(t *testing.T) {
	for _, c := range []struct{ url, from, want string }{
		{"http://mail.example.com", "a@b.test", "must start with smtp://"},
		{"smtp://", "a@b.test", "no host"},
		{"smtp://u:hunter2@mail.example.com:99999", "a@b.test", "bad port"},
		{"smtp://u:hunter2@mail.example.com/x?y=1", "a@b.test", "path or query"},
		{"smtp://mail.example.com", "", "--mail-from"},
		{"smtp://mail.example.com", "not an address", "is not an address"},
		{"smtp://mail.example.com", "a@b.test\r\nBcc: x@y", "is not an address"},
		{"smtp://mail.example.com", "a\xff@b.test", "UTF-8"},
		{"::", "a@b.test", "not a URL"},
	} {
		_, err := notify.NewSMTP(c.url, c.from)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSMTP(%q, %q) = %v, want %q", c.url, c.from, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	m, err := notify.NewSMTP("smtps://mail.example.com", "SnapGlyph <noreply@example.com>")
	if err != nil || m.From() != `"SnapGlyph" <noreply@example.com>` {
		t.Fatalf("%v %v", m, err)
	}
}

// TestSMTPLongSubjectsAreFolded: a long subject, non-ASCII or plain, is
// folded into header lines of at most 78 characters (RFC 5322 allows
// 998; before, a 300-character non-ASCII subject was one line of about
// 2,000), and a mail reader (net/mail, mime.WordDecoder) gets the subject
// back: its first 200 characters and an ellipsis.
func TestSMTPLongSubjectsAreFolded(t *testing.T) {
	srv := newSMTPServer(t, smtptest.Config{})
	m, err := notify.NewSMTP("smtp://"+srv.Addr, "Schlüsseldienst Ünïcødé Überwachung <noreply@snapglyph.test>")
	if err != nil {
		t.Fatal(err)
	}
	nonASCII := string([]rune(strings.Repeat("Schlüssel «Prod» の鍵が一時停止されました 🔑 — ", 12))[:300])
	plain := strings.TrimSpace(strings.Repeat("API key Production-WebApp paused  ", 9)) // double spaces too
	for _, subject := range []string{nonASCII, plain, "Short · Acme", strings.Repeat("x", 150)} {
		if err := m.Send(context.Background(), &notify.Message{To: "a@acme.test", Subject: subject, Text: "t", HTML: "h"}); err != nil {
			t.Fatal(err)
		}
		msgs := srv.Messages()
		raw := msgs[len(msgs)-1].Data
		head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		for _, line := range strings.Split(string(head), "\r\n") {
			if len(line) > 78 && !(strings.HasPrefix(line, " x") || strings.HasPrefix(line, "Subject: x")) {
				t.Errorf("a header line of %d characters: %q", len(line), line)
			}
			if len(line) > 998 {
				t.Errorf("a header line of %d characters, over RFC 5322's limit", len(line))
			}
		}
		p := parse(t, msgs[len(msgs)-1])
		want := []rune(subject)
		if len(want) > 200 {
			want = append(want[:200:200], '…')
		}
		if p.subject != strings.TrimSpace(string(want)) {
			t.Errorf("subject read back\n%q\nwant\n%q", p.subject, string(want))
		}
		if from, err := p.header.AddressList("From"); err != nil || from[0].Name != "Schlüsseldienst Ünïcødé Überwachung" {
			t.Errorf("From %v %v", from, err)
		}
	}
	if n := strings.Count(string(srv.Messages()[0].Data), "\r\n =?utf-8?q?"); n < 10 {
		t.Errorf("the non-ASCII subject is in %d folded lines, want many", n)
	}
}
