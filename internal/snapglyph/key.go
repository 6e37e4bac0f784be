package snapglyph

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"strings"
)

// Key format (DESIGN §3): "qr_live_" + 26 random base62 characters + a
// 6-character base62 CRC32 of everything before it.
const (
	KeyPrefix      = "qr_live_"
	KeyRandomLen   = 26
	KeyChecksumLen = 6
	KeyBodyLen     = KeyRandomLen + KeyChecksumLen // 32
	KeyLen         = len(KeyPrefix) + KeyBodyLen   // 40
	KeyDisplayLen  = len(KeyPrefix) + 4            // "qr_live_a1b2"
	base62         = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// KeyDigest is the SHA-256 of a full key: the only form stored at rest.
type KeyDigest [sha256.Size]byte

// GenerateKey returns a new random API key. Each random character is drawn
// from crypto/rand by rejection sampling, so there is no modulo bias.
func GenerateKey() string {
	var b [KeyLen]byte
	copy(b[:], KeyPrefix)
	buf := make([]byte, 64)
	n := len(KeyPrefix)
	for n < len(KeyPrefix)+KeyRandomLen {
		rand.Read(buf) // never returns an error (Go 1.24+)
		for _, c := range buf {
			// 248 = 4*62: values at or above it would favour the first
			// characters of the alphabet.
			if c >= 248 {
				continue
			}
			b[n] = base62[c%62]
			n++
			if n == len(KeyPrefix)+KeyRandomLen {
				break
			}
		}
	}
	putChecksum(b[n:], checksum(string(b[:n])))
	return string(b[:])
}

var crcTable = crc32.MakeTable(crc32.IEEE)

// checksum is the CRC-32 (IEEE) of s, computed over the string in place:
// hash/crc32's functions take a slice, and the conversion would allocate.
func checksum(s string) uint32 {
	return ^crcUpdate(^uint32(0), s)
}

func crcUpdate(crc uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		crc = crcTable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return crc
}

// isKeyBody reports whether s is the 32 characters that follow a key's
// prefix, their checksum holding, without allocating.
func isKeyBody(s string) bool {
	if len(s) != KeyBodyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	var sum [KeyChecksumLen]byte
	putChecksum(sum[:], ^crcUpdate(crcUpdate(^uint32(0), KeyPrefix), s[:KeyRandomLen]))
	return string(sum[:]) == s[KeyRandomLen:]
}

// putChecksum writes c in base62, fixed width, most significant first.
func putChecksum(dst []byte, c uint32) {
	for i := KeyChecksumLen - 1; i >= 0; i-- {
		dst[i] = base62[c%62]
		c /= 62
	}
}

func isBase62(c byte) bool {
	return ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// CheckKey reports whether s is a well-formed API key: the prefix, the
// length, the alphabet and the checksum. It makes no database lookup and
// does not allocate unless it fails. The error says which part is wrong,
// without repeating the key.
func CheckKey(s string) error {
	if !strings.HasPrefix(s, KeyPrefix) {
		if strings.HasPrefix(s, "qr_") {
			i := strings.IndexByte(s[3:], '_')
			if i > 0 && i < 16 {
				return malformedKey("API keys start with %q; this one starts with %q (only live keys exist)", KeyPrefix, s[:3+i+1])
			}
		}
		return malformedKey("API keys start with %q", KeyPrefix)
	}
	if len(s) != KeyLen {
		return malformedKey("an API key is %d characters long (%q and 32 more); this one has %d", KeyLen, KeyPrefix, len(s))
	}
	for i := len(KeyPrefix); i < len(s); i++ {
		if !isBase62(s[i]) {
			return malformedKey("an API key contains only letters and digits after %q; character %d is not one", KeyPrefix, i+1)
		}
	}
	var sum [KeyChecksumLen]byte
	putChecksum(sum[:], checksum(s[:KeyLen-KeyChecksumLen]))
	if string(sum[:]) != s[KeyLen-KeyChecksumLen:] {
		return malformedKey("the API key's checksum does not match: it was mistyped or changed; copy it again from where you stored it")
	}
	return nil
}

func malformedKey(format string, args ...any) error {
	return Codef(EUNAUTHORIZED, "malformed_api_key", format, args...)
}

// DigestKey returns the SHA-256 digest of a key without allocating.
func DigestKey(key string) KeyDigest {
	var b [KeyLen]byte
	if len(key) == KeyLen {
		copy(b[:], key)
		return sha256.Sum256(b[:])
	}
	return sha256.Sum256([]byte(key))
}

// KeyDisplayPrefix returns the part of a key that may be shown: "qr_live_"
// and its first 4 random characters.
func KeyDisplayPrefix(key string) string {
	return key[:KeyDisplayLen]
}
