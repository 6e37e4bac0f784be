// Package qrbench compares SnapGlyph's QR images with those of
// github.com/skip2/go-qrcode, in the same run, on the same work: the README's
// baseline figure. Run it with
//
//	go test -run x -bench . -benchmem ./qrbench/
package qrbench
