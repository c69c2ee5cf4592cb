// Package hubbubjs embeds the hubbub browser client (hubbub.js, a plain ES
// module with no build step, and its TypeScript declarations hubbub.d.ts)
// and serves it over HTTP, so that an application's page can import the
// client from its own server:
//
//	mux.Handle("/hubbub/", http.StripPrefix("/hubbub", hubbubjs.Handler()))
//
//	<script type="module">
//	  import { connect } from "/hubbub/hubbub.js";
//	  const client = connect("/ws", { auth: { token } });
//	</script>
package hubbubjs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed hubbub.js hubbub.d.ts
var files embed.FS

// asset is one embedded file, prepared once: its bytes, a gzip-compressed
// copy and strong ETags for both.
type asset struct {
	contentType string
	body        []byte
	etag        string
	gz          []byte // nil when compression does not pay
	gzETag      string
}

// noModTime leaves Last-Modified out: the ETag is the validator.
var noModTime time.Time

var (
	prepareOnce sync.Once
	assets      map[string]*asset
	version     string
)

func prepare() {
	prepareOnce.Do(func() {
		types := map[string]string{
			"hubbub.js":   "text/javascript; charset=utf-8",
			"hubbub.d.ts": "application/typescript; charset=utf-8",
		}
		all := sha256.New()
		assets = make(map[string]*asset, len(types))
		for _, name := range []string{"hubbub.js", "hubbub.d.ts"} {
			body, err := files.ReadFile(name)
			if err != nil {
				panic("hubbubjs: embedded file missing: " + err.Error()) // cannot happen: go:embed checked it at build time
			}
			sum := sha256.Sum256(body)
			all.Write(sum[:])
			a := &asset{contentType: types[name], body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if buf.Len() < len(body) {
				a.gz = buf.Bytes()
				a.gzETag = `"` + hex.EncodeToString(sum[:12]) + `-gz"`
			}
			assets[name] = a
		}
		version = hex.EncodeToString(all.Sum(nil)[:8])
	})
}

// Version returns a short hash of the embedded files. Requests whose query
// has v=Version() (for example "/hubbub/hubbub.js?v=" + hubbubjs.Version())
// are cached by browsers for a year without revalidation; the hash changes
// whenever the client does.
func Version() string {
	prepare()
	return version
}

// Handler returns an http.Handler that serves the embedded client. It picks
// the file by the last element of the request path, so it can be mounted at
// any prefix (with or without http.StripPrefix): ".../hubbub.js" gets the
// module as text/javascript, ".../hubbub.d.ts" its TypeScript declarations;
// any other path is 404 Not Found. Only GET and HEAD are allowed (405
// otherwise).
//
// Responses carry a strong ETag and "Cache-Control: no-cache" (browsers
// revalidate and get 304 Not Modified while the file is unchanged), or a
// year-long immutable cache for requests with ?v=Version(). Clients that
// accept gzip get a copy compressed once at startup. Range requests are
// honoured. The handler holds no per-request state and is safe for
// concurrent use.
func Handler() http.Handler {
	prepare()
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[path.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gz, a.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match (304), If-Match, Range and HEAD.
	http.ServeContent(w, r, "", noModTime, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip
// (listed, or through "*", without q=0).
func acceptsGzip(header string) bool {
	gzip, star := -1, -1 // -1 absent, 0 refused, 1 accepted
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		ok := 1
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") && strings.Trim(strings.TrimSpace(v), "0.") == "" {
				ok = 0
			}
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip", "x-gzip":
			gzip = ok
		case "*":
			star = ok
		}
	}
	if gzip >= 0 {
		return gzip == 1
	}
	return star == 1
}
