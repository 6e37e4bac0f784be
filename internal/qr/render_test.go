package qr

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
	"strings"
	"testing"
)

type svgDoc struct {
	ViewBox string `xml:"viewBox,attr"`
	Shape   string `xml:"shape-rendering,attr"`
	Rect    struct {
		W    string `xml:"width,attr"`
		H    string `xml:"height,attr"`
		Fill string `xml:"fill,attr"`
	} `xml:"rect"`
	Path struct {
		Fill string `xml:"fill,attr"`
		D    string `xml:"d,attr"`
	} `xml:"path"`
}

// pathModules paints the runs of an SVG path d written by AppendSVG into an
// n×n grid, failing on anything else.
func pathModules(t *testing.T, d string, n int) []bool {
	t.Helper()
	grid := make([]bool, n*n)
	x, y := 0, 0
	for _, sub := range strings.Split(strings.TrimSuffix(d, "z"), "z") {
		var cmd byte
		var dx, dy, w, w2 int
		if _, err := fmt.Sscanf(sub, "%c%d %dh%dv1h-%d", &cmd, &dx, &dy, &w, &w2); err != nil || w != w2 || w < 1 {
			t.Fatalf("bad sub-path %q: %v", sub, err)
		}
		switch cmd {
		case 'M':
			x, y = dx, dy
		case 'm':
			x, y = x+dx, y+dy
		default:
			t.Fatalf("bad command in %q", sub)
		}
		for i := x; i < x+w; i++ {
			if grid[y*n+i] {
				t.Fatalf("module %d,%d painted twice", i, y)
			}
			grid[y*n+i] = true
		}
	}
	return grid
}

func TestSVG(t *testing.T) {
	for _, tt := range []struct {
		payload, level string
		margin         int
	}{
		{"https://example.com/products/item-12345678", "M", 4},
		{"hello", "L", 0},
		{strings.Repeat("long payload ", 90), "H", 16},
	} {
		t.Run(fmt.Sprint(tt.level, tt.margin), func(t *testing.T) {
			m, err := Encode(tt.payload, tt.level)
			if err != nil {
				t.Fatal(err)
			}
			d := Design{Foreground: "#1a3d7c", Background: "#fff8e7", ErrorCorrection: tt.level, Margin: tt.margin}
			var buf bytes.Buffer
			if err := SVG(&buf, m, d); err != nil {
				t.Fatal(err)
			}
			app, err := AppendSVG([]byte("prefix"), m, d)
			if err != nil || string(app) != "prefix"+buf.String() {
				t.Fatalf("AppendSVG differs from SVG: %v", err)
			}
			var doc svgDoc
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not XML: %v", err)
			}
			n := m.Size + 2*tt.margin
			ns := strconv.Itoa(n)
			if doc.ViewBox != "0 0 "+ns+" "+ns || doc.Shape != "crispEdges" {
				t.Errorf("viewBox %q shape-rendering %q", doc.ViewBox, doc.Shape)
			}
			if doc.Rect.W != ns || doc.Rect.H != ns || doc.Rect.Fill != "#FFF8E7" || doc.Path.Fill != "#1A3D7C" {
				t.Errorf("rect %+v path fill %q", doc.Rect, doc.Path.Fill)
			}
			grid := pathModules(t, doc.Path.D, n)
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					if grid[y*n+x] != m.Dark(x-tt.margin, y-tt.margin) {
						t.Fatalf("module %d,%d differs", x, y)
					}
				}
			}
		})
	}
}

func TestSVGErrors(t *testing.T) {
	m, _ := Encode("x", "H")
	d := DefaultDesign()
	d.ErrorCorrection = "H"
	d.Logo = testLogoPNG(t, 8, 8)
	if err := SVG(&bytes.Buffer{}, m, d); !errors.Is(err, ErrLogoSVG) {
		t.Errorf("logo: %v", err)
	}
	for _, bad := range []Design{{Foreground: "red"}, {Background: "#12"}, {Margin: -1}, {Margin: 17}} {
		if err := SVG(&bytes.Buffer{}, m, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
		if err := PNG(&bytes.Buffer{}, m, bad, 256); err == nil {
			t.Errorf("PNG %+v: no error", bad)
		}
	}
}

func TestPNGPlain(t *testing.T) {
	v3, _ := Encode("https://example.com/products/item-12345678", "M") // 29 modules
	v40, _ := Encode(strings.Repeat("a", 2900), "L")                   // 177 modules
	tests := []struct {
		m              *Matrix
		margin, size   int
		wantPx, wantSc int
	}{
		{v3, 4, 64, 37, 1},
		{v3, 4, 74, 74, 2},
		{v3, 4, 512, 481, 13},
		{v3, 4, 0, 481, 13}, // default size
		{v3, 0, 512, 493, 17},
		{v3, 16, 2000, 1952, 32},
		{v3, 4, 4096, 4070, 110},
		{v40, 4, 64, 185, 1}, // larger than asked: at least 1 px per module
		{v40, 4, 512, 370, 2},
		{v40, 16, 4096, 3971, 19},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.m.Size, "/", tt.margin, "/", tt.size), func(t *testing.T) {
			if got := PixelSize(tt.m, Design{Margin: tt.margin}, tt.size); got != tt.wantPx {
				t.Errorf("PixelSize = %d, want %d", got, tt.wantPx)
			}
			d := Design{Foreground: "#202060", Background: "#F0FFF0", Margin: tt.margin}
			var buf bytes.Buffer
			if err := PNG(&buf, tt.m, d, tt.size); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := img.(*image.Paletted)
			if !ok || len(p.Palette) != 2 {
				t.Fatalf("image is %T, want 2-colour paletted", img)
			}
			fg, bg := color.RGBA{0x20, 0x20, 0x60, 0xFF}, color.RGBA{0xF0, 0xFF, 0xF0, 0xFF}
			if p.Palette[0] != color.Color(bg) || p.Palette[1] != color.Color(fg) {
				t.Errorf("palette %v", p.Palette)
			}
			if b := p.Bounds(); b.Dx() != tt.wantPx || b.Dy() != tt.wantPx {
				t.Fatalf("bounds %v, want %d px", b, tt.wantPx)
			}
			for y := 0; y < tt.wantPx; y++ {
				for x := 0; x < tt.wantPx; x++ {
					want := uint8(0)
					if tt.m.Dark(x/tt.wantSc-tt.margin, y/tt.wantSc-tt.margin) {
						want = 1
					}
					if got := p.ColorIndexAt(x, y); got != want {
						t.Fatalf("pixel %d,%d = %d, want %d", x, y, got, want)
					}
				}
			}
		})
	}
}

func TestPNGSizeErrors(t *testing.T) {
	m, _ := Encode("x", "M")
	for _, size := range []int{-1, 1, 63, 4097} {
		if err := PNG(&bytes.Buffer{}, m, DefaultDesign(), size); !errors.Is(err, ErrSize) {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestPNGLogo(t *testing.T) {
	m, _ := Encode("https://example.com/products/item-12345678", "H") // version 5, 37 modules
	for _, tt := range []struct {
		name string
		logo []byte
		size int
	}{
		{"png wide", testLogoPNG(t, 200, 120), 512},
		{"png tall", testLogoPNG(t, 30, 90), 2000},
		{"jpeg", testLogoJPEG(t, 100, 100), 512},
		{"tiny scale", testLogoPNG(t, 100, 100), 64},
		{"1px logo", testLogoPNG(t, 1, 1), 300},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Design{Foreground: "#000000", Background: "#FFFFEE", ErrorCorrection: "H", Margin: 4, Logo: tt.logo}
			var buf bytes.Buffer
			if err := PNG(&buf, m, d, tt.size); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			n, scale := pngGeometry(m, 4, tt.size)
			if img.Bounds() != image.Rect(0, 0, n*scale, n*scale) {
				t.Fatalf("bounds %v, want %d px", img.Bounds(), n*scale)
			}
			lg, _ := decodeLogo(tt.logo)
			box, ok := placeLogo(m.Version(), 4, scale, lg.Bounds().Dx(), lg.Bounds().Dy())
			if !ok {
				t.Fatal("no room for the logo")
			}
			// Outside the cleared area every pixel is its module's colour;
			// inside, outside the logo rectangle, background.
			for y := 0; y < n*scale; y++ {
				for x := 0; x < n*scale; x++ {
					mx, my := x/scale-4, y/scale-4
					r, g, b, _ := img.At(x, y).RGBA()
					got := [3]uint32{r >> 8, g >> 8, b >> 8}
					cleared := mx >= box.mx0 && mx < box.mx1 && my >= box.my0 && my < box.my1
					var want [3]uint32
					switch {
					case cleared && image.Pt(x, y).In(box.logo):
						continue
					case !cleared && m.Dark(mx, my):
						want = [3]uint32{0, 0, 0}
					default:
						want = [3]uint32{0xFF, 0xFF, 0xEE}
					}
					if got != want {
						t.Fatalf("pixel %d,%d = %v, want %v", x, y, got, want)
					}
				}
			}
			// The logo's centre is its dark-blue core (not for the 1 px logo).
			if lg.Bounds().Dx() > 1 {
				c := box.logo.Min.Add(box.logo.Max).Div(2)
				r, g, b, _ := img.At(c.X, c.Y).RGBA()
				if math.Abs(float64(r>>8)-0x10) > 24 || math.Abs(float64(g>>8)-0x20) > 24 || math.Abs(float64(b>>8)-0x90) > 24 {
					t.Errorf("logo centre colour %x %x %x", r>>8, g>>8, b>>8)
				}
			}
		})
	}
	d := Design{ErrorCorrection: "H", Margin: 4, Logo: []byte("nope")}
	if err := PNG(&bytes.Buffer{}, m, d, 512); err == nil || !strings.Contains(err.Error(), "logo") {
		t.Errorf("bad logo: %v", err)
	}
	mM, _ := Encode("https://example.com/", "M")
	d.Logo = testLogoPNG(t, 10, 10)
	if err := PNG(&bytes.Buffer{}, mM, d, 512); !errors.Is(err, ErrLogoLevel) {
		t.Errorf("logo on an M matrix: %v", err)
	}
}

// TestPNGLogoVersionBump: with a logo, versions 1-4 are drawn at version 5
// and 7-13 at version 14.
func TestPNGLogoVersionBump(t *testing.T) {
	for _, tt := range []struct {
		payload  string
		from, to int
	}{
		{"hi", 1, 5},
		{strings.Repeat("x", 30), 4, 5},
		{strings.Repeat("x", 50), 6, 6},
		{strings.Repeat("x", 80), 8, 14},
		{strings.Repeat("x", 200), 15, 15},
	} {
		m, _ := Encode(tt.payload, "H")
		if m.Version() != tt.from {
			t.Fatalf("%d bytes: version %d, want %d", len(tt.payload), m.Version(), tt.from)
		}
		d := Design{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "H", Margin: 4, Logo: testLogoPNG(t, 50, 50)}
		var buf bytes.Buffer
		if err := PNG(&buf, m, d, 1000); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 17 + 4*tt.to + 8
		if want := 1000 / n * n; img.Bounds().Dx() != want || PixelSize(m, d, 1000) != want {
			t.Errorf("version %d: image %v, PixelSize %d, want %d px (version %d)", tt.from, img.Bounds(), PixelSize(m, d, 1000), want, tt.to)
		}
		d.Logo = nil
		if got, n := PixelSize(m, d, 1000), m.Size+8; got != 1000/n*n {
			t.Errorf("PixelSize without logo = %d", got)
		}
	}
}

// TestPlaceLogo checks the logo geometry rules for every version (logos are
// only drawn on 5, 6 and 14-40) and several scales and aspect ratios.
func TestPlaceLogo(t *testing.T) {
	for v := 1; v <= 40; v++ {
		size := 17 + 4*v
		l := layoutH(v)
		ps := alignmentCentres(v)
		for _, scale := range []int{1, 2, 3, 7, 20} {
			for _, dim := range [][2]int{{100, 100}, {300, 50}, {20, 200}, {1, 1}} {
				name := fmt.Sprintf("v%d scale %d logo %v", v, scale, dim)
				b, ok := placeLogo(v, 4, scale, dim[0], dim[1])
				if !ok {
					t.Fatalf("%s: no room", name)
				}
				cw, ch := b.mx1-b.mx0, b.my1-b.my0
				if float64(cw*ch) > logoMaxCover*float64(size*size) {
					t.Errorf("%s: cleared %d×%d modules, over %.0f%% of %d²", name, cw, ch, logoMaxCover*100, size)
				}
				if cw%2 == 0 || ch%2 == 0 || b.mx0+b.mx1 != size || b.my0+b.my1 != size {
					t.Errorf("%s: cleared area not centred: %+v", name, b)
				}
				if dmg, allowed := l.worstBlockDamage(b.mx0, b.my0, b.mx1, b.my1), int(float64(l.ecc/2)*logoBudget); dmg > allowed {
					t.Errorf("%s: %d codewords of one block hidden, %d allowed", name, dmg, allowed)
				}
				// Alignment patterns: outside the area, except the central
				// one, which is inside or outside but never cut.
				for i, a := range ps {
					for j, c := range ps {
						last := len(ps) - 1
						if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) {
							continue
						}
						pat := image.Rect(a-2, c-2, a+3, c+3)
						area := image.Rect(b.mx0, b.my0, b.mx1, b.my1)
						central := len(ps)%2 == 1 && i == last/2 && j == last/2
						if pat.Overlaps(area) && !(central && pat.In(area)) {
							t.Errorf("%s: alignment pattern at %d,%d cut by %v", name, a, c, area)
						}
					}
				}
				area := image.Rect((4+b.mx0)*scale, (4+b.my0)*scale, (4+b.mx1)*scale, (4+b.my1)*scale)
				if !b.logo.Inset(-scale).In(area) || b.logo.Empty() {
					t.Errorf("%s: logo %v + 1 module pad not inside %v", name, b.logo, area)
				}
			}
		}
	}
}

func TestFilterTaps(t *testing.T) {
	for _, c := range [][2]int{{1, 1}, {1, 50}, {50, 1}, {100, 37}, {37, 100}, {2048, 300}} {
		for d, taps := range filterTaps(c[0], c[1]) {
			var sum float32
			for _, tp := range taps {
				if tp.i < 0 || tp.i >= c[0] {
					t.Fatalf("%v: index %d out of range", c, tp.i)
				}
				sum += tp.w
			}
			if math.Abs(float64(sum)-1) > 1e-4 {
				t.Fatalf("%v: weights of %d sum to %v", c, d, sum)
			}
		}
	}
}
