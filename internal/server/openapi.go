package server

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
)

// openAPI is the OpenAPI 3.1 description of the API, written by hand and
// held against the routes by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.json
var openAPI []byte

// relativeServer is the document's servers entry as written: the host
// that served the document.
var relativeServer = []byte(`"url": "/",`)

// openAPIFor returns the document with its server set to publicURL (where
// clients reach the API), or as written when publicURL is empty.
func openAPIFor(publicURL string) []byte {
	if publicURL == "" {
		return openAPI
	}
	u, _ := json.Marshal(strings.TrimRight(publicURL, "/"))
	return bytes.Replace(openAPI, relativeServer, append(append([]byte(`"url": `), u...), ','), 1)
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.Write(s.openAPI)
}
