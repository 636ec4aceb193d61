package dockertruth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Truth is what one `docker stack deploy` did, as recorded against a real
// engine.
type Truth struct {
	Case      string   `json:"case"`
	Namespace string   `json:"namespace"`
	Files     []string `json:"files"`
	// Docker names the CLI and engine versions the truth was recorded with.
	Docker string `json:"docker"`
	// Command is the deploy as it was run, from the staging directory.
	Command string `json:"command"`
	// Rejected is set when the deploy failed; Stderr then holds Docker's
	// error. Objects created before the failure are still recorded. Of
	// several schema errors the CLI reports the first it meets in a map, so
	// which one Stderr holds varies between recordings.
	Rejected bool   `json:"rejected"`
	Stderr   string `json:"stderr,omitempty"`
	// Warnings are the notes in Stderr of a deploy that succeeded.
	Warnings []string `json:"warnings,omitempty"`
	// Adjusted lists what the recorder changed in a request before the
	// engine saw it, and why; Sent always holds what the CLI sent.
	Adjusted []string `json:"adjusted,omitempty"`
	// Sent holds the request bodies the CLI posted to create each object,
	// keyed by the object's name: exactly Docker's conversion.
	Sent Objects `json:"sent"`
	// Inspected holds what the engine reported for the same objects
	// afterwards: service and secret/config specs (the engine never returns
	// secret data), and the create fields of networks.
	Inspected Objects `json:"inspected"`
}

// Objects are a stack's services, networks, secrets and configs as generic
// JSON (see Generic), keyed by full object name.
type Objects struct {
	Services map[string]any `json:"services,omitempty"`
	Networks map[string]any `json:"networks,omitempty"`
	Secrets  map[string]any `json:"secrets,omitempty"`
	Configs  map[string]any `json:"configs,omitempty"`
}

// kinds returns the four maps under the names Compare reports them with.
func (o Objects) kinds() map[string]map[string]any {
	return map[string]map[string]any{
		"services": o.Services, "networks": o.Networks,
		"secrets": o.Secrets, "configs": o.Configs,
	}
}

// IDMark wraps the name of a cluster object wherever its ID was recorded, so
// that truth files do not change with every run: "$ID(s001_frontend)".
func IDMark(name string) string { return "$ID(" + name + ")" }

// ReadTruth reads a truth file.
func ReadTruth(file string) (*Truth, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	var t Truth
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("read truth %s: %w", file, err)
	}
	return &t, nil
}

// Write writes t as indented JSON with sorted keys.
func (t *Truth) Write(file string) error {
	data, err := Marshal(t)
	if err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	return nil
}

// Marshal encodes v as the golden and truth files hold it: indented by two
// spaces, map keys sorted, no HTML escaping, a final newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Generic turns a value into generic JSON (maps, slices, strings, bools,
// json.Number) through its JSON form, keeping numbers exact.
func Generic(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Decode(data)
}

// Decode reads JSON into generic values, keeping numbers exact.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// logrusLine matches a warning the CLI logs through logrus, in either of
// its text formats.
var logrusLine = regexp.MustCompile(`^(?:WARN\[\d+\]\s+(.*)|(?:time="[^"]*" )?level=warning msg="(.*)")$`)

// ParseWarnings splits the stderr of a successful deploy into its notes,
// each as Docker words it: every logged warning's message, and every
// paragraph the CLI prints ("Ignoring unsupported options: build"). A
// paragraph whose first line ends in ":" goes on over the blank lines that
// separate its items, up to the next "Ignoring" paragraph or logged line,
// and keeps them as Docker prints them ("Ignoring deprecated
// options:\n\nexpose: ...").
func ParseWarnings(stderr string) []string {
	var out, para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, strings.Join(para, "\n\n"))
			para = nil
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if m := logrusLine.FindStringSubmatch(line); m != nil {
			flush()
			out = append(out, strings.ReplaceAll(m[1]+m[2], `\"`, `"`))
			continue
		}
		if line == "" {
			continue
		}
		if len(para) > 0 && (!strings.HasSuffix(para[0], ":") || strings.HasPrefix(line, "Ignoring ")) {
			flush()
		}
		para = append(para, line)
	}
	flush()
	return out
}
