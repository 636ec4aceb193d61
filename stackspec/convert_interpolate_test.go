package stackspec

import (
	"strings"
	"testing"
)

func TestDockerSubstitute(t *testing.T) {
	env := map[string]string{"SET": "value", "EMPTY": "", "HOME": "/home/me"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${SET}", want: "value"},
		{in: "$SET/x", want: "value/x"},
		{in: "a${UNSET}b", want: "ab"},
		{in: "$$SET and $${SET}", want: "$SET and ${SET}"},
		{in: "${UNSET:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY-def}", want: ""},
		{in: "${UNSET-def}", want: "def"},
		{in: "${SET:?gone}", want: "value"},
		{in: "${EMPTY?gone}", want: ""},
		{in: "${UNSET:?set UNSET first}", wantErr: "required variable UNSET is missing a value: set UNSET first"},
		{in: "${EMPTY:?gone}", wantErr: "required variable EMPTY is missing a value: gone"},
		{in: "${UNSET?gone}", wantErr: "required variable UNSET is missing a value: gone"},
		// Docker takes a default as written, dollars and all.
		{in: "${UNSET:-$2y$05$abc}", want: "$2y$05$abc"},
		{in: "${UNSET:-${SET}}", want: "${SET}"},
		// The first "-" after the name starts a default, even after ":?".
		{in: "${UNSET:?no-dash}", want: "dash"},
		// An unbraced name takes a modifier up to the next "}".
		{in: "$HOME-x/y", want: "/home/me"},
		{in: "$UNSET-x/y}z", want: "x/y}z"},
		{in: "100$", wantErr: "Invalid template"},
		{in: "$1", wantErr: "Invalid template"},
		{in: "${}", wantErr: "Invalid template"},
		{in: "${SET.x}", wantErr: "Invalid template"},
		{in: "${SET", wantErr: "Invalid template"},
	}
	for _, tt := range tests {
		got, err := dockerSubstitute(tt.in, lookup)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: got %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
