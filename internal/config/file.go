package config

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileBytes bounds the configuration file; a larger one is surely a mistake.
const maxFileBytes = 4 << 20

// Keys allowed in the nested YAML mappings, so a typo is an error rather than silently ignored.
var (
	accountKeys = []string{"auth_id", "auth_token", "trusted_gateways", "number_routes", "default_app"}
	routeKeys   = []string{"number", "app"}
	appKeys     = []string{"name", "answer_url", "answer_method", "hangup_url", "hangup_method", "fallback_url", "fallback_method"}
)

type fileAccount struct {
	AuthID          string      `yaml:"auth_id"`
	AuthToken       string      `yaml:"auth_token"`
	TrustedGateways []string    `yaml:"trusted_gateways"`
	NumberRoutes    []fileRoute `yaml:"number_routes"`
	DefaultApp      *fileApp    `yaml:"default_app"`
}

type fileRoute struct {
	Number string  `yaml:"number"`
	App    fileApp `yaml:"app"`
}

type fileApp struct {
	Name           string `yaml:"name"`
	AnswerURL      string `yaml:"answer_url"`
	AnswerMethod   string `yaml:"answer_method"`
	HangupURL      string `yaml:"hangup_url"`
	HangupMethod   string `yaml:"hangup_method"`
	FallbackURL    string `yaml:"fallback_url"`
	FallbackMethod string `yaml:"fallback_method"`
}

func (f fileApp) config() AppConfig {
	return AppConfig{
		Name:           strings.TrimSpace(f.Name),
		AnswerURL:      strings.TrimSpace(f.AnswerURL),
		AnswerMethod:   normMethod(f.AnswerMethod),
		HangupURL:      strings.TrimSpace(f.HangupURL),
		HangupMethod:   normMethod(f.HangupMethod),
		FallbackURL:    strings.TrimSpace(f.FallbackURL),
		FallbackMethod: normMethod(f.FallbackMethod),
	}
}

// loadFile applies the YAML file at path to c.
func (c *Config) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return fmt.Errorf("config file %s: larger than %d bytes", path, maxFileBytes)
	}
	if err := c.applyYAML(data); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	c.ConfigFile = path
	return nil
}

// applyYAML applies a YAML document to c.
func (c *Config) applyYAML(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the file must be a mapping of setting: value", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "accounts" {
			if err := c.applyAccounts(v); err != nil {
				return err
			}
			continue
		}
		s, ok := settingByKey(k.Value)
		if !ok {
			return fmt.Errorf("line %d: unknown setting %q", k.Line, k.Value)
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: expected a single value", v.Line, k.Value)
		}
		if err := s.set(c, v.Value); err != nil {
			return fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
	}
	return nil
}

func (c *Config) applyAccounts(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: accounts: expected a list of accounts", n.Line)
	}
	accounts := make([]Account, 0, len(n.Content))
	for i, an := range n.Content {
		where := fmt.Sprintf("accounts[%d]", i)
		if err := checkKeys(an, where, accountKeys); err != nil {
			return err
		}
		for _, kv := range mappingValues(an) {
			switch kv[0].Value {
			case "number_routes":
				for j, rn := range seqItems(kv[1]) {
					rw := fmt.Sprintf("%s.number_routes[%d]", where, j)
					if err := checkKeys(rn, rw, routeKeys); err != nil {
						return err
					}
					for _, rkv := range mappingValues(rn) {
						if rkv[0].Value == "app" {
							if err := checkKeys(rkv[1], rw+".app", appKeys); err != nil {
								return err
							}
						}
					}
				}
			case "default_app":
				if err := checkKeys(kv[1], where+".default_app", appKeys); err != nil {
					return err
				}
			}
		}
		var fa fileAccount
		if err := an.Decode(&fa); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		a := Account{AuthID: strings.TrimSpace(fa.AuthID), AuthToken: strings.TrimSpace(fa.AuthToken)}
		if fa.TrustedGateways != nil {
			a.TrustedGateways = []netip.Prefix{}
			for _, g := range fa.TrustedGateways {
				p, err := parseGateway(g)
				if err != nil {
					return fmt.Errorf("line %d: %s.trusted_gateways: %w", an.Line, where, err)
				}
				a.TrustedGateways = append(a.TrustedGateways, p)
			}
		}
		for j, r := range fa.NumberRoutes {
			num, err := normNumber(r.Number)
			if err != nil {
				return fmt.Errorf("line %d: %s.number_routes[%d]: %w", an.Line, where, j, err)
			}
			a.NumberRoutes = append(a.NumberRoutes, NumberRoute{Number: num, App: r.App.config()})
		}
		if fa.DefaultApp != nil {
			app := fa.DefaultApp.config()
			a.DefaultApp = &app
		}
		accounts = append(accounts, a)
	}
	c.Accounts = accounts
	c.gatewaysSet = len(accounts) > 0 && accounts[0].TrustedGateways != nil
	return nil
}

// checkKeys refuses keys of mapping n that are not in allowed.
func checkKeys(n *yaml.Node, where string, allowed []string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: expected a mapping", n.Line, where)
	}
	for _, kv := range mappingValues(n) {
		ok := false
		for _, a := range allowed {
			ok = ok || kv[0].Value == a
		}
		if !ok {
			return fmt.Errorf("line %d: %s: unknown key %q (allowed: %s)", kv[0].Line, where, kv[0].Value, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func mappingValues(n *yaml.Node) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
