// Package apiclient drives every operation of the API's OpenAPI document
// through the generated Go client (github.com/snapglyph/snapglyph/client)
// against a real node (internal/testserver), in success and error cases,
// and validates every response (status, headers, body) against the
// document with kin-openapi's openapi3filter, a validator independent of
// the server's own tests. TestDeclaredErrors sends every operation the
// requests that provoke the errors it declares for a wrong request (400,
// 401, 405, 413, 414, 415, 422, 503) and shows those it does not declare
// are not answered. Run it from the e2e module:
//
//	go test -race ./apiclient/
package apiclient
