package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/snapglyph/snapglyph/client"
)

// The README's example: create a QR code, fetch its PNG, read the usage,
// and handle a problem. (Compiled by go vet and go test; it has no Output
// line, so it is not run: it needs a server and a key.)
func Example() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses("http://127.0.0.1:8080",
		client.WithAPIKey(os.Getenv("SNAPGLYPH_KEY")))
	if err != nil {
		log.Fatal(err)
	}

	// Create: the body is a union selected by `type`.
	var body client.QRCodeCreate
	if err := body.FromQRCodeCreateUrl(client.QRCodeCreateUrl{
		Name:    "Product page",
		Content: client.UrlContent{Url: "https://example.com/p/1"},
	}); err != nil {
		log.Fatal(err)
	}
	created, err := c.CreateQRCodeWithResponse(ctx, &client.CreateQRCodeParams{}, body)
	if err != nil {
		log.Fatal(err) // the network, not the API
	}
	if p := client.ProblemOf(created.HTTPResponse, created.Body); p != nil {
		log.Fatal(p) // e.g. "400 invalid_request: …"; p.Errors lists the fields
	}
	code, err := created.JSON201.AsQRCodeUrl() // narrowed by `type`
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(code.Id, code.Content.Url, code.Payload)

	// Its PNG (10 image credits): the bytes are in Body.
	png := client.Png
	img, err := c.GetQRCodeWithResponse(ctx, code.Id, &client.GetQRCodeParams{Format: &png})
	if err != nil {
		log.Fatal(err)
	}
	if p := client.ProblemOf(img.HTTPResponse, img.Body); p != nil {
		if p.Code == client.ProblemCodeImageCreditLimitReached {
			log.Fatal("out of image credits until ", img.HTTPResponse.Header.Get("Retry-After"), " s from now")
		}
		log.Fatal(p)
	}
	if err := os.WriteFile("menu.png", img.Body, 0o644); err != nil {
		log.Fatal(err)
	}

	// This month's usage.
	usage, err := c.GetUsageWithResponse(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if usage.JSON200 == nil {
		log.Fatal(client.ProblemOf(usage.HTTPResponse, usage.Body))
	}
	fmt.Printf("%d of %d API calls left, %d image credits\n",
		usage.JSON200.ApiCalls.Remaining, usage.JSON200.ApiCalls.Limit, usage.JSON200.ImageCredits.Remaining)

	// Problems by status: each documented one has its typed field.
	gone, err := c.GetQRCodeWithResponse(ctx, "qr_00000000000000000000", nil)
	if err != nil {
		log.Fatal(err)
	}
	if nf := gone.ApplicationproblemJSON404; nf != nil {
		fmt.Println(nf.Code, nf.Detail) // not_found no QR code has the id …
	}
	// A *Problem is an error: return it, and find it again with errors.As.
	err = deleteCode(ctx, c, code.Id)
	var p *client.Problem
	if errors.As(err, &p) && p.Code == client.ProblemCodePreconditionFailed {
		fmt.Println("changed since we read it; read it again")
	}
}

func deleteCode(ctx context.Context, c *client.ClientWithResponses, id string) error {
	etag := `"v1"` // the ETag of the version we read: If-Match prevents lost updates
	r, err := c.DeleteQRCodeWithResponse(ctx, id, &client.DeleteQRCodeParams{IfMatch: &etag})
	if err != nil {
		return err
	}
	if p := client.ProblemOf(r.HTTPResponse, r.Body); p != nil {
		return p // a non-nil *Problem only: a nil one in an error is not nil
	}
	return nil
}

// A change of some content fields while the type stays: the body holds
// only them (a vCard's title here), and the server keeps the others (the
// names, phones, address). Run by go test: the Output is the body sent.
func Example_changeContentFields() {
	title := "Dr"
	var content client.ContentPatch
	if err := content.FromVcardContentPatch(client.VcardContentPatch{Title: &title}); err != nil {
		log.Fatal(err)
	}
	var change client.QRCodeUpdate
	if err := change.FromQRCodeUpdateKeepType(client.QRCodeUpdateKeepType{Content: &content}); err != nil {
		log.Fatal(err)
	}
	body, err := json.Marshal(change)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body)) // c.UpdateQRCodeWithResponse(ctx, id, nil, change) sends it
	// Output: {"content":{"title":"Dr"}}
}
