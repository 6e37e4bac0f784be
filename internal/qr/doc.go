// Package qr is the pure part of SnapGlyph's QR codes: it validates the
// content of the seven code types and builds the string to encode (Payload),
// validates the look of a code (Design), encodes the module matrix (Encode)
// and renders it as SVG (SVG, AppendSVG) or PNG (PNG). It does no I/O besides
// writing to the io.Writer it is given.
//
// # Payloads
//
// Payload takes the raw JSON "content" object and reports every problem at
// once as FieldError values named by JSON path ("content.url",
// "content.phones[1]", "content.address.city"); unknown fields are errors,
// JSON null counts as absent. Formats, chosen for what phone cameras (iOS
// Camera, Google Lens/ML Kit, ZXing-based readers) act on:
//
//   - url: the URL as given; absolute http or https, no spaces or control
//     characters, at most 2048 bytes. Internationalised URLs are kept as
//     given (UTF-8, see Encoding).
//   - text: as given, not blank.
//   - email: mailto:to?subject=…&body=… (RFC 6068). Everything but RFC 3986
//     unreserved characters is percent-encoded ("@" kept in the address),
//     so spaces are %20 and "+" is %2B, never read as a space; line breaks
//     in the body become %0D%0A. "to" must be one bare address that
//     net/mail parses ("Name <a@b>" is refused).
//   - phone: tel:+15551234567. Digits, one leading "+", and spaces, dashes,
//     dots and parentheses (removed) are allowed; 3 to 15 digits.
//   - sms: SMSTO:number:message, the form both iOS and Android scanners
//     read (the message is everything after the second colon, so it needs no
//     escaping). The number follows the phone rules.
//   - wifi: WIFI:T:WPA;S:ssid;P:password;H:true;; with \ ; , : " escaped by
//     a backslash in S and P; security "none" gives T:nopass and no P, H only
//     when hidden is true. Security is required and exactly "WPA", "WEP" or
//     "none". WPA passwords: 8-63 printable ASCII characters or 64 hex
//     digits; WEP: 5 or 13 ASCII characters or 10 or 26 hex digits.
//   - vcard: vCard 3.0 with CRLF line ends: N, FN (first + last name, else
//     the organisation), ORG, TITLE, TEL per phone, EMAIL per address, URL,
//     ADR. Text values escape \ , ; and line breaks (as \n) per RFC 2426; the
//     URL value is a URI and is not escaped. Lines are not folded (readers
//     handle long lines; folding confuses some). At least one of firstName,
//     lastName, organization; at most 5 phones and 5 e-mails; 256 bytes per
//     text field.
//
// Payload does not check that the payload fits a symbol: that depends on the
// error correction level, and Encode reports it with a *TooLongError.
//
// # Encoding
//
// Encode keeps github.com/piglig/go-qr behind one function. It uses the
// smallest version that fits, keeps the requested level (no automatic boost,
// so the symbol states the level the customer chose) and the encoder's
// lowest-penalty mask. All-digit payloads use numeric mode, payloads of QR
// alphanumeric characters only (0-9 A-Z space $%*+-./:) alphanumeric mode,
// other ASCII one byte-mode segment. A payload with non-ASCII bytes is one
// byte-mode segment of UTF-8 preceded by an ECI 26 (UTF-8) designator; Kanji
// mode is never used. Without ECI, zbar guesses the charset and reads "café"
// as "caf矇" and "こんにちは" as Shift JIS mojibake; with ECI 26 accents,
// emoji and CJK come back byte for byte (TestRoundTrip). The ECI costs 12
// bits, so UTF-8 payloads hold one byte less: at most 2952/2330/1662/1272
// bytes at L/M/Q/H against 2953/2331/1663/1273 for ASCII.
//
// # Design
//
// DefaultDesign is black on white, level M, 4-module quiet zone, no logo. The
// API fills defaults by unmarshalling the request's "design" object onto
// DefaultDesign(), so an absent field keeps its default while an explicit
// "margin": 0 means no quiet zone (Normalize fills only empty strings).
// Validate refuses:
//   - colours other than "#RRGGBB" (hex digits in either case);
//   - a foreground lighter than the background (many scanners cannot read
//     light-on-dark codes);
//   - a WCAG 2 contrast ratio below 3:1 (MinContrast; WCAG's threshold for
//     graphical objects, SC 1.4.11): e.g. #3B82F6 on white (3.7:1) passes,
//     #999999 on white (2.8:1) does not;
//   - a margin outside 0..16 modules (4 is the standard's minimum; 0 is
//     allowed for codes placed on a light background by the customer);
//   - a logo that is not a PNG or JPEG, over 256 KiB, over 2048×2048 pixels
//     (checked from the header before decoding), not decodable, or set
//     without error correction "H" ("a logo needs error correction H").
//
// # SVG
//
// The SVG has a viewBox in modules (quiet zone included) and no width or
// height, so it scales to its container; a background <rect> and one <path>
// with a sub-path per horizontal run of dark modules, shape-rendering
// "crispEdges". No logos in SVG: SVG and AppendSVG return ErrLogoSVG for a
// design with a logo, and the API refuses that combination before.
//
// # PNG size rule
//
// PNG takes a requested size of MinSize (64) to MaxSize (4096) pixels,
// DefaultSize 512. Every module, quiet zone included, is the same whole
// number of pixels: with n = modules + 2×margin, scale = max(1, size/n) and
// the image is n×scale pixels square, the largest multiple of n that fits in
// size (PixelSize tells it in advance). Only when size < n (a big payload at
// 64 px: 1 pixel per module would need more than 64) is the image larger
// than asked: n pixels, one per module. Such tiny images are only readable
// when shown enlarged; the round-trip tests enlarge images under 3 pixels
// per module by pixel replication before decoding.
//
// The PNG is written directly: 1-bit, 2-colour palette without a logo;
// 8-bit RGB with one. Scanlines repeat within a module row and are written
// as zero "Up"-filtered lines, compressed with a pooled zlib writer at
// BestSpeed; the no-logo path makes no allocations.
//
// # Logos
//
// A logo (a PNG or JPEG file; drawn in PNG output only, at level H) is
// scaled with a linear filter, keeping its aspect ratio, composited over the
// background colour (transparency respected) and centred in an area cleared
// to the background with at least one module of pad around the logo. The cleared area is module-aligned and
// the largest that meets all of:
//   - at most 15% of the symbol's area;
//   - no Reed-Solomon block gets more than 60% of the errors it can correct,
//     counting every codeword with a hidden module as wrong (computed
//     exactly from the symbol layout), leaving the rest for real-world damage;
//   - no alignment pattern is hidden, or cut, except the central one.
//
// The code is drawn at a larger version where the logo would otherwise be
// too small or hide the central alignment pattern (PixelSize accounts for
// it): versions 1-4 at version 5 (their error correction leaves room for a
// logo of only 1-5 modules), and versions 7-13 at version 14 (their single
// central alignment pattern is what zbar builds its whole sampling grid
// from; hidden, zbar failed on about 5% of the images). The logo then spans
// about 9-37% of the symbol's width: about a quarter for versions 5-6, 35-40,
// a third for 21-27, less (9-22%) for 14-20 and 28-34, where four or six rows
// of alignment patterns leave only a narrow gap in the middle. These limits
// were checked with zbarimg on versions 1-40, three kinds of logo and sizes
// from 200 to 2000 px, without a failure.
//
// # Tests
//
// The round-trip tests need zbarimg (zbar-tools) and rsvg-convert
// (librsvg2-bin); they are skipped when these are missing, unless
// SNAPGLYPH_TEST_DECODER=1.
package qr
