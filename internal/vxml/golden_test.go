package vxml

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden .json files under testdata/")

// goldenBase is the URL the golden documents are taken to come from.
const goldenBase = "https://app.example.com/voice/answer.xml"

// TestGolden parses every testdata/*.xml and compares a JSON dump of the result (or of the
// error) with the .json file beside it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden documents in testdata/")
	}
	base, _ := url.Parse(goldenBase)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".xml"), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			doc, perr := Parse(in, base)
			got := dumpResult(t, doc, perr)
			want := strings.TrimSuffix(f, ".xml") + ".json"
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, exp) {
				t.Errorf("result differs from %s (run go test -update after checking):\n%s", want, got)
			}
		})
	}
}

func dumpResult(t *testing.T, doc *Document, err error) []byte {
	t.Helper()
	var v any
	if err != nil {
		v = map[string]any{"error": err.Error()}
	} else {
		els := make([]any, len(doc.Elements))
		for i, e := range doc.Elements {
			els[i] = dumpValue(reflect.ValueOf(e))
		}
		v = map[string]any{"elements": els, "warnings": doc.Warnings}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if jerr := enc.Encode(v); jerr != nil {
		t.Fatal(jerr)
	}
	return b.Bytes()
}

var durationType = reflect.TypeOf(time.Duration(0))

// dumpValue turns an element into JSON-friendly values: elements become {"Name": {fields}},
// durations their String form.
func dumpValue(v reflect.Value) any {
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if e, ok := v.Interface().(Element); ok {
			return map[string]any{e.Name(): dumpValue(v.Elem())}
		}
		return dumpValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			m[v.Type().Field(i).Name] = dumpValue(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = dumpValue(v.Index(i))
		}
		return out
	}
	return v.Interface()
}
