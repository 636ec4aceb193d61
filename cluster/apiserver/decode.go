package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// decodeJSON reads the request body into v as the daemon does: JSON only
// (when a Content-Type is given), unknown fields ignored for
// compatibility with newer clients, one document and nothing after it.
// The body is already bounded by wrap.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return badRequest("malformed Content-Type header (%s): %v", ct, err)
		}
		if mt != "application/json" {
			return badRequest("unsupported Content-Type header (%s): must be 'application/json'", ct)
		}
	}
	if r.Body == nil {
		return badRequest("invalid JSON: got EOF while reading request body")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("reading request body: %v", err)
	}
	return decodeBody(body, v)
}

// decodeBody decodes one JSON document; it is what the fuzz tests drive.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("invalid JSON: got EOF while reading request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return badRequest("invalid JSON: unexpected EOF")
		}
		return badRequest("invalid JSON: %v", err)
	}
	rest := body[dec.InputOffset():]
	if len(bytes.TrimSpace(rest)) != 0 {
		return badRequest("unexpected content after JSON")
	}
	return nil
}

// queryVersion reads the version parameter of an update; what names the
// object kind in the message, as the daemon words it.
func queryVersion(r *http.Request, what string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		switch what {
		case "secret", "config":
			return 0, badRequest("invalid %s version", what)
		}
		return 0, badRequest("invalid %s version '%s': %v", what, raw, err)
	}
	return v, nil
}

// queryBool reads a boolean parameter; absent is false. Docker's "1",
// "true", "True" and the like are accepted (strconv.ParseBool).
func queryBool(r *http.Request, name string) (bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, badRequest("invalid value for %s: %s", name, raw)
	}
	return b, nil
}
