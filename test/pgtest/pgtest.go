// Package pgtest runs a throw-away PostgreSQL server for tests: initdb in a temporary
// directory, pg_ctl start on 127.0.0.1 with a free port and its socket in that directory, and
// stop and removal at the end. It uses the server binaries of the Debian package postgresql
// (/usr/lib/postgresql/<version>/bin), which `make test` installs when missing. PostgreSQL
// refuses to run as root, so under root the server runs as the package's postgres user.
//
// When PostgreSQL is not installed the tests that need it are skipped with the reason, except
// under CI (CI=true), where that is a failure: CI must run them (test/svctest holds that rule).
//
// It must NOT know about Parley's schema: it hands out empty databases.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-voice/parley/test/svctest"
)

// superuser is the role initdb creates; it connects without a password (trust on loopback).
const superuser = "parley"

// Server is one running PostgreSQL server, or the reason there is none.
type Server struct {
	dir         string // holds data/, the socket and the log; removed by Stop
	bin         string
	port        int
	cred        *syscall.Credential // nil: run as ourselves
	unavailable string
}

// Main is for TestMain: it starts a server in *srv, runs the tests and stops it, and returns
// the exit code. Without PostgreSQL, *srv holds the reason and Require skips (or, under CI,
// Main fails before running anything). m is a *testing.M or, to start other services around
// the tests too, a svctest.RunFunc around their Main.
func Main(m svctest.Runner, srv **Server) int {
	return svctest.Main(m, srv, "pgtest", ErrNotInstalled, 2*time.Minute, Start,
		func(reason string) *Server { return &Server{unavailable: reason} })
}

// ErrNotInstalled: no PostgreSQL server binaries on this machine.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")

// Require returns the server, or skips t when PostgreSQL is not installed.
func (s *Server) Require(t testing.TB) *Server {
	t.Helper()
	return svctest.Require(t, "pgtest", s)
}

// Unavailable is why there is no server ("" when there is one).
func (s *Server) Unavailable() string { return s.unavailable }

// binDir finds the newest installed server's bin directory.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi > vj
	})
	if len(found) > 0 {
		return filepath.Dir(found[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

// Start initialises a new cluster in a temporary directory and starts it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		// The Debian package's system user.
		if s.cred, err = svctest.SystemUser("postgres"); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if out, err := s.run(ctx, "initdb", "-D", s.data(), "-U", superuser, "--auth=trust", "--no-locale",
		"-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A free port can be taken between our probe and the server's bind: try a few.
	for try := 0; ; try++ {
		if s.port, err = svctest.FreePort(); err != nil {
			err = fmt.Errorf("pgtest: %w", err)
			break
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off"+
			" -c full_page_writes=off -c max_connections=200", s.port, dir)
		var out []byte
		out, err = s.run(ctx, "pg_ctl", "-D", s.data(), "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
			"-o", opts, "start")
		if err == nil {
			return s, nil
		}
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		err = fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
		if try == 2 {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's programs as the server's user.
func (s *Server) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, prog), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// URL is the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

// CreateDatabase creates an empty database named name ([a-z0-9_]) and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return "", fmt.Errorf("pgtest: database name %q: use [a-z0-9_]", name)
	}
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop stops the server at once and removes its directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.run(ctx, "pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	if err != nil {
		err = fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}
