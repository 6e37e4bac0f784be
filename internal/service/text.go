package service

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// textFieldErrors reports every string (and object key) of a JSON value
// that cannot be stored as text — a NUL character (\u0000) survives JSON
// decoding — by its JSON path under prefix ("content.text",
// "content.phones[1]"). Malformed JSON is left to the field's own
// validation.
func textFieldErrors(prefix string, raw json.RawMessage) []snapglyph.FieldError {
	if len(raw) == 0 || !bytes.Contains(raw, []byte(`\u0000`)) && snapglyph.TextProblem(string(raw)) == "" {
		return nil // the common case: nothing to look for
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	var errs []snapglyph.FieldError
	walkText(prefix, v, &errs)
	return errs
}

func walkText(path string, v any, errs *[]snapglyph.FieldError) {
	switch v := v.(type) {
	case string:
		if msg := snapglyph.TextProblem(v); msg != "" {
			*errs = append(*errs, snapglyph.FieldError{Field: path, Message: msg})
		}
	case []any:
		for i, e := range v {
			walkText(path+"["+strconv.Itoa(i)+"]", e, errs)
		}
	case map[string]any:
		for k, e := range v {
			if msg := snapglyph.TextProblem(k); msg != "" {
				*errs = append(*errs, snapglyph.FieldError{Field: path, Message: "has a field name that " + msg})
				continue
			}
			walkText(path+"."+k, e, errs)
		}
	}
}
