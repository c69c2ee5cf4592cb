package hubbubjs_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	hubbubjs "github.com/hubbubhq/hubbub/client/js"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesFiles(t *testing.T) {
	h := hubbubjs.Handler()
	for _, tc := range []struct {
		target, file, contentType string
	}{
		{"/hubbub.js", "hubbub.js", "text/javascript; charset=utf-8"},
		{"/static/hubbub/hubbub.js", "hubbub.js", "text/javascript; charset=utf-8"},
		{"/hubbub.d.ts", "hubbub.d.ts", "application/typescript; charset=utf-8"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			want, err := os.ReadFile(tc.file)
			require.NoError(t, err)
			rec := get(t, h, http.MethodGet, tc.target, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, tc.contentType, rec.Header().Get("Content-Type"))
			require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
			require.Empty(t, rec.Header().Get("Content-Encoding"))
			require.Regexp(t, `^"[0-9a-f]{24}"$`, rec.Header().Get("ETag"))
			require.Equal(t, want, rec.Body.Bytes())
		})
	}
}

func TestHandlerConditionalAndHead(t *testing.T) {
	h := hubbubjs.Handler()
	first := get(t, h, http.MethodGet, "/hubbub.js", nil)
	etag := first.Header().Get("ETag")
	require.NotEmpty(t, etag)

	rec := get(t, h, http.MethodGet, "/hubbub.js", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, rec.Code)
	require.Empty(t, rec.Body.Bytes())

	rec = get(t, h, http.MethodGet, "/hubbub.js", map[string]string{"If-None-Match": `"stale"`})
	require.Equal(t, http.StatusOK, rec.Code)

	rec = get(t, h, http.MethodHead, "/hubbub.js", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, etag, rec.Header().Get("ETag"))
	require.Empty(t, rec.Body.Bytes())

	other := get(t, h, http.MethodGet, "/hubbub.d.ts", nil).Header().Get("ETag")
	require.NotEqual(t, etag, other, "each file has its own ETag")
}

func TestHandlerVersionedURLIsImmutable(t *testing.T) {
	h := hubbubjs.Handler()
	v := hubbubjs.Version()
	require.Regexp(t, `^[0-9a-f]{16}$`, v)
	rec := get(t, h, http.MethodGet, "/hubbub.js?v="+v, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "public, max-age=31536000, immutable", rec.Header().Get("Cache-Control"))
	rec = get(t, h, http.MethodGet, "/hubbub.js?v=old", nil)
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
}

func TestHandlerGzip(t *testing.T) {
	h := hubbubjs.Handler()
	want, err := os.ReadFile("hubbub.js")
	require.NoError(t, err)
	plainTag := get(t, h, http.MethodGet, "/hubbub.js", nil).Header().Get("ETag")

	rec := get(t, h, http.MethodGet, "/hubbub.js", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	require.Contains(t, rec.Header().Values("Vary"), "Accept-Encoding")
	require.NotEqual(t, plainTag, rec.Header().Get("ETag"), "the gzip copy is another representation")
	require.Less(t, rec.Body.Len(), len(want))
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	require.NoError(t, err)
	got, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, want, got)

	for _, ae := range []string{"gzip;q=0", "identity", "*;q=0", "br", "gzip;q=0.0, *"} {
		rec := get(t, h, http.MethodGet, "/hubbub.js", map[string]string{"Accept-Encoding": ae})
		require.Empty(t, rec.Header().Get("Content-Encoding"), ae)
		require.Equal(t, want, rec.Body.Bytes(), ae)
	}
	rec = get(t, h, http.MethodGet, "/hubbub.js", map[string]string{"Accept-Encoding": "*"})
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
}

func TestHandlerRefusals(t *testing.T) {
	h := hubbubjs.Handler()
	require.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/other.js", nil).Code)
	require.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/", nil).Code)
	require.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/embed.go", nil).Code)
	rec := get(t, h, http.MethodPost, "/hubbub.js", nil)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

func ExampleHandler() {
	mux := http.NewServeMux()
	// Pages import the client with
	//   import { connect } from "/hubbub/hubbub.js";
	mux.Handle("/hubbub/", http.StripPrefix("/hubbub", hubbubjs.Handler()))
	_ = mux
}
