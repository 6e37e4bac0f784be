package service

// ImageContentType is the media type of an image format: "image/png" for
// "png", "image/svg+xml" for "svg". An image's type is known before it is
// drawn (a HEAD request is answered without drawing).
func ImageContentType(format string) string {
	if format == "png" {
		return "image/png"
	}
	return "image/svg+xml"
}
