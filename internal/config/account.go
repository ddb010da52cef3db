package config

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// AccountFile is the name, inside the data directory, of the file holding the generated account.
const AccountFile = "account"

const (
	upperDigits  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// EnsureAccount gives the first account credentials when it has none: it reads them from
// <dataDir>/account, or on first start generates an auth_id ("MA_" + 8 upper-case letters or
// digits) and a 32-character token, stores them there with mode 0600 and prints them once to
// stdout. generated reports that a new account was made. An account that already has
// credentials (from file, env or flags) is left alone.
func EnsureAccount(c *Config, dataDir string, stdout io.Writer) (generated bool, err error) {
	a := c.firstAccount()
	if a.AuthID != "" || a.AuthToken != "" {
		return false, nil
	}
	path := filepath.Join(dataDir, AccountFile)
	id, token, err := readAccountFile(path)
	if err == nil {
		a.AuthID, a.AuthToken = id, token
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}

	id, err = randomString("MA_", upperDigits, 8)
	if err != nil {
		return false, err
	}
	token, err = randomString("", alphanumeric, 32)
	if err != nil {
		return false, err
	}
	if err := writeAccountFile(dataDir, path, id, token); err != nil {
		return false, err
	}
	a.AuthID, a.AuthToken = id, token
	if stdout != nil {
		fmt.Fprintf(stdout, "Parley created an account on first start (stored in %s):\n  auth_id:    %s\n  auth_token: %s\n", path, id, token)
	}
	return true, nil
}

// readAccountFile reads "auth_id=...\nauth_token=..." and tightens the file's mode to 0600.
func readAccountFile(path string) (id, token string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		return "", "", fmt.Errorf("reading the stored account: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(k) {
		case "auth_id":
			id = strings.TrimSpace(v)
		case "auth_token":
			token = strings.TrimSpace(v)
		}
	}
	if !authIDPattern.MatchString(id) || token == "" {
		return "", "", fmt.Errorf("stored account %s is damaged (want auth_id=... and auth_token=... lines); fix or delete it", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", "", fmt.Errorf("restricting the stored account file: %w", err)
		}
	}
	return id, token, nil
}

// writeAccountFile writes through a temporary file so a crash never leaves half an account.
func writeAccountFile(dataDir, path, id, token string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	f, err := os.CreateTemp(dataDir, ".account-*") // created with mode 0600
	if err != nil {
		return fmt.Errorf("storing the generated account: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = fmt.Fprintf(f, "# Parley account generated on first start. Keep this file private.\nauth_id=%s\nauth_token=%s\n", id, token)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("storing the generated account: %w", err)
	}
	return nil
}

// randomString returns prefix + n characters drawn uniformly from alphabet with crypto/rand.
func randomString(prefix, alphabet string, n int) (string, error) {
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	limit := 256 - 256%len(alphabet) // reject bytes that would bias the draw
	buf := make([]byte, 2*n)
	for len(out) < len(prefix)+n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generating credentials: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < len(prefix)+n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
