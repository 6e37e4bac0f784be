// Package client is a Go client for the SnapGlyph API, generated from the
// OpenAPI document the server serves (internal/server/openapi.json) by
// oapi-codegen, pinned below. client.gen.go is generated: do not edit it;
// change the document and run `go generate ./...` here. .ci/check-client
// fails when the committed code is not what the document generates.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../internal/server/openapi.json
