package server

import (
	"encoding/json"
	"net/http"
)

// writeJSON writes v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	writeBody(w, status, contentType, b)
}

// writeBody writes an encoded JSON body, with the final newline.
func writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", itoa(int64(len(b)+1)))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func encode(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, "application/json", v)
}
