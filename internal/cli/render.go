package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// table writes rows under a header, columns aligned.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// cell formats a JSON value for a table: null as "-", strings as they are.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// renderFields prints one object as FIELD/VALUE rows in key order, without api_id.
func renderFields(w io.Writer, body []byte) error {
	m, err := decodeObject(body)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "api_id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{k, cell(m[k])}
	}
	return table(w, []string{"FIELD", "VALUE"}, rows)
}

// renderMessage prints the "message" of an answer, with the keys that identify what it made.
func renderMessage(ids ...string) renderFunc {
	return func(w io.Writer, body []byte) error {
		m, err := decodeObject(body)
		if err != nil {
			return err
		}
		line := cell(m["message"])
		for _, k := range ids {
			if v, ok := m[k]; ok {
				line += "  " + k + "=" + cell(v)
			}
		}
		_, err = fmt.Fprintln(w, line)
		return err
	}
}

// renderText prints a fixed line for answers without a body (204, 202 empty).
func renderText(text string) renderFunc {
	return func(w io.Writer, _ []byte) error {
		_, err := fmt.Fprintln(w, text)
		return err
	}
}

// listPage is the common shape of the paged lists.
type listPage struct {
	Meta struct {
		Limit      int `json:"limit"`
		Offset     int `json:"offset"`
		TotalCount int `json:"total_count"`
	} `json:"meta"`
	Objects []map[string]any `json:"objects"`
}

// renderList prints the objects of a paged list in columns (header → key), then a line with
// the position in the whole list when it does not fit on the page.
func renderList(header, keys []string) renderFunc {
	return func(w io.Writer, body []byte) error {
		var page listPage
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&page); err != nil {
			return err
		}
		rows := make([][]string, len(page.Objects))
		for i, o := range page.Objects {
			rows[i] = make([]string, len(keys))
			for j, k := range keys {
				rows[i][j] = cell(o[k])
			}
		}
		if err := table(w, header, rows); err != nil {
			return err
		}
		if n := len(page.Objects); n < page.Meta.TotalCount {
			first := page.Meta.Offset + 1
			if n == 0 {
				first = page.Meta.Offset
			}
			_, err := fmt.Fprintf(w, "(%d-%d of %d; see --limit and --offset)\n", first, page.Meta.Offset+n, page.Meta.TotalCount)
			return err
		}
		return nil
	}
}

// renderStrings prints a list of strings under key as one column.
func renderStrings(key, header string) renderFunc {
	return func(w io.Writer, body []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		var items []string
		if err := json.Unmarshal(m[key], &items); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		rows := make([][]string, len(items))
		for i, s := range items {
			rows[i] = []string{s}
		}
		return table(w, []string{header}, rows)
	}
}
