package api

import (
	"net/url"
	"strconv"
)

// Page is the limit/offset of a list request (§5.1).
type Page struct {
	Limit  int
	Offset int
}

// bindPage reads limit (1–100, default 20) and offset (≥ 0, default 0).
func bindPage(b *binder) Page {
	p := Page{Limit: 20}
	if n, ok := b.Int("limit", false, 1, 100); ok {
		p.Limit = int(n)
	}
	if n, ok := b.Int("offset", false, 0, maxInt); ok {
		p.Offset = int(n)
	}
	return p
}

// metaBody is the pagination meta of list bodies. next is "" on the last page, previous is
// null on the first.
type metaBody struct {
	Limit      int     `json:"limit"`
	Next       string  `json:"next"`
	Offset     int     `json:"offset"`
	Previous   *string `json:"previous"`
	TotalCount int     `json:"total_count"`
}

// pageMeta builds the meta of one page. base is the list path ("/v1/Account/X/Recording/");
// filters are the list's filter parameters, repeated in the links after limit and offset so
// that following a link keeps the same result set.
func pageMeta(base string, p Page, total int, filters url.Values) metaBody {
	return pageMetaWith(p, total, func(offset int) string {
		s := base + "?limit=" + strconv.Itoa(p.Limit) + "&offset=" + strconv.Itoa(offset)
		if len(filters) > 0 {
			s += "&" + filters.Encode()
		}
		return s
	})
}

// pageMetaWith builds the meta of one page with link(offset) as the path of another page.
func pageMetaWith(p Page, total int, link func(offset int) string) metaBody {
	m := metaBody{Limit: p.Limit, Offset: p.Offset, TotalCount: total}
	if p.Offset+p.Limit < total {
		m.Next = link(p.Offset + p.Limit)
	}
	if p.Offset > 0 {
		prev := link(max(0, p.Offset-p.Limit))
		m.Previous = &prev
	}
	return m
}

// resourcePath is the "/v1/Account/{auth_id}/…/" form used in resource_uri values and links.
func resourcePath(account string, parts ...string) string {
	s := "/v1/Account/" + url.PathEscape(account) + "/"
	for _, p := range parts {
		s += url.PathEscape(p) + "/"
	}
	return s
}
