package main

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestServeMailFlags: bad mail and secret-scanning settings are refused
// before anything starts, naming the setting, never showing the SMTP
// password.
func TestServeMailFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"scheme", []string{"--smtp-url", "http://u:hunter2@mail.example.com", "--mail-from", "a@b.test"}, nil, "--smtp-url: the SMTP URL http://u:xxxxx@mail.example.com must start with smtp://"},
		{"env", nil, map[string]string{"SNAPGLYPH_SMTP_URL": "smtp://u:hunter2@mail.example.com:0", "SNAPGLYPH_MAIL_FROM": "a@b.test"}, "SNAPGLYPH_SMTP_URL: the SMTP URL smtp://u:xxxxx@mail.example.com:0 has a bad port"},
		{"no sender", []string{"--smtp-url", "smtp://u:hunter2@mail.example.com"}, nil, "--smtp-url: mail needs a sender: set --mail-from"},
		{"bad sender", []string{"--smtp-url", "smtp://mail.example.com", "--mail-from", "SnapGlyph"}, nil, `--smtp-url: the sender "SnapGlyph" is not an address`},
		{"sender alone", nil, map[string]string{"SNAPGLYPH_MAIL_FROM": "a@b.test"}, `SNAPGLYPH_MAIL_FROM="a@b.test" is set but --smtp-url is not`},
		{"keys over http", []string{"--secret-scanning-keys", "http://api.github.com/meta/public_keys/secret_scanning"}, nil, `--secret-scanning-keys="http://api.github.com/meta/public_keys/secret_scanning": secret-scanning keys come from a file or an https:// URL`},
		{"keys file missing", []string{"--secret-scanning-keys", "/nonexistent/keys.json"}, nil, `--secret-scanning-keys="/nonexistent/keys.json": secret-scanning keys from /nonexistent/keys.json: open /nonexistent/keys.json: no such file or directory`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"SNAPGLYPH_DB": filepath.Join(t.TempDir(), "snapglyph.db")}
			for k, v := range c.env {
				env[k] = v
			}
			var stdout, stderr testdb.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...)
			err := run(context.Background(), args, mapEnv(env), strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatal("serve started")
			}
			msg := errorText(err)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.HasPrefix(msg, c.want) {
				t.Errorf("error %q, want it to start with %q", msg, c.want)
			}
			if strings.Contains(msg+stderr.String(), "hunter2") {
				t.Errorf("the password is shown: %s", msg)
			}
		})
	}
}

// TestServeSendsMail: `serve --smtp-url` mails the Owner when the CLI
// creates a key, with a link to the dashboard under the served address;
// without --smtp-url the log says once that mail is off.
func TestServeSendsMail(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	mail, err := smtptest.NewServer(smtptest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_SMTP_URL": "smtp://" + mail.Addr}, "--addr", "127.0.0.1:0", "--mail-from", "SnapGlyph <noreply@snapglyph.test>")
	out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--plan", "pro", "--json")
	org := decode(t, out)["id"].(string)
	out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
	kid := decode(t, out)["id"].(string)
	got := mail.Wait(1, 30*time.Second)
	if len(got) != 1 || got[0].To[0] != "owner@acme.test" || got[0].From != "noreply@snapglyph.test" {
		t.Fatalf("mails %+v\nlogs:\n%s", got, srv.logs)
	}
	// The parts are quoted-printable: decode them (headers pass as they are).
	decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(got[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	body := string(decoded)
	if !strings.Contains(body, "Production-WebApp") || !strings.Contains(body, srv.url+"/settings/api/keys/"+kid) {
		t.Errorf("mail:\n%s", body)
	}
	if fullKey.MatchString(body) {
		t.Fatal("the mail holds a full key")
	}
	if strings.Count(srv.logs.String(), "mail is off") != 0 || !strings.Contains(srv.logs.String(), "set --public-url") {
		t.Errorf("logs:\n%s", srv.logs)
	}
	srv.stop(t)

	off := serveDB(t, db.DSN)
	off.stop(t)
	if n := strings.Count(off.logs.String(), "mail is off"); n != 1 {
		t.Errorf("%d lines say mail is off, want 1:\n%s", n, off.logs)
	}
}
