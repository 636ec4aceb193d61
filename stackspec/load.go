package stackspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/dotenv"
	interp "github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// Options says what to load.
type Options struct {
	// Files are the compose files in override order, as
	// `docker stack deploy -c a.yml -c b.yml`.
	Files []string
	// Contents, when set, holds the bytes of Files[i] at Contents[i], so
	// nothing is read from disk for the compose files themselves.
	Contents [][]byte
	// Namespace is the stack name ("shop"); required.
	Namespace string
	// WorkingDir is the base for relative paths (.env, env_file, bind
	// sources, file-backed secrets and configs). Default: the directory of
	// Files[0].
	WorkingDir string
	// EnvFiles hold variables for interpolation (`--env-file`); a relative
	// path is relative to the current directory, as on a command line.
	// Default: WorkingDir/.env when it exists.
	EnvFiles []string
	// Environ is the process environment, used for interpolation and for
	// `environment: [VAR]` pass-through. Nil means os.Environ().
	Environ map[string]string
}

// Loaded is a stack file set read and validated by compose-go, ready to
// convert.
type Loaded struct {
	Namespace string
	Project   *types.Project
	// Warnings are the notes `docker stack deploy` prints while loading,
	// such as "Ignoring unsupported options: build".
	Warnings []string
	src      *sources
	// docker holds what Docker's own loader would reject in the raw files;
	// Convert reports it, because Load accepts what compose-go accepts.
	docker []dockerFinding
	// hosts keeps each service's extra_hosts in file order: compose-go
	// stores them in a map, and Docker keeps the order written.
	hosts map[string][]string
	// targets maps, per service, a mount target compose-go cleaned back to
	// the one written (Docker keeps "/etc/app/").
	targets map[string]map[string]string
	// overridden names the services more than one file defines: Docker's
	// merge sorts their volumes by target.
	overridden map[string]bool
}

// Load reads the compose files of one stack the way `docker stack deploy`
// does, with compose-go doing the parsing, interpolation and merging. Bad
// input comes back as an ErrorList holding every problem found, each placed
// at its file, line and field.
func Load(ctx context.Context, opts Options) (*Loaded, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	contents, err := readComposeFiles(opts)
	if err != nil {
		return nil, err
	}
	src, err := newSources(opts.Files, contents)
	if err != nil {
		return nil, err
	}
	workingDir, err := resolveWorkingDir(opts)
	if err != nil {
		return nil, err
	}
	env, err := interpolationEnv(opts, workingDir)
	if err != nil {
		return nil, err
	}
	if errs := src.check(env); len(errs) > 0 {
		return nil, errs
	}

	raw := parseRaw(opts.Files, contents)
	if errs := checkFileObjects(raw, src); len(errs) > 0 {
		return nil, errs.sorted(opts.Files)
	}
	project, facts, err := loadProject(ctx, opts, contents, workingDir, env, src)
	if err != nil {
		var list ErrorList
		if errors.As(err, &list) {
			return nil, list
		}
		return nil, src.wrap(err)
	}
	return &Loaded{
		Namespace:  opts.Namespace,
		Project:    project,
		Warnings:   slices.Concat(portWarnings(project), facts.warnings, loadWarnings(raw)),
		src:        src,
		docker:     dockerFindings(raw, lookupIn(env)),
		hosts:      facts.hosts,
		targets:    shortVolumeTargets(raw, lookupIn(env)),
		overridden: overriddenServices(raw),
	}, nil
}

func lookupIn(env map[string]string) template.Mapping {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func checkOptions(opts Options) error {
	// These are no file's fault, but name the stack's first file when
	// there is one: every Error names a file but for a load of none.
	var errs ErrorList
	first := ""
	if len(opts.Files) == 0 {
		errs = append(errs, &Error{Msg: "no compose file given: name at least one"})
	} else {
		first = opts.Files[0]
	}
	if strings.TrimSpace(opts.Namespace) == "" {
		errs = append(errs, &Error{File: first, Msg: "no stack name given: every object is named after its stack, so name one"})
	}
	if opts.Contents != nil && len(opts.Contents) != len(opts.Files) {
		errs = append(errs, &Error{File: first, Msg: fmt.Sprintf("%d contents for %d files: give one per file, or none", len(opts.Contents), len(opts.Files))})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// readComposeFiles reads every file once, so that the positions, the raw
// scan and compose-go all see the same bytes.
func readComposeFiles(opts Options) ([][]byte, error) {
	if opts.Contents != nil {
		return opts.Contents, nil
	}
	contents := make([][]byte, len(opts.Files))
	var errs ErrorList
	for i, f := range opts.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: "cannot read the file: " + pathErrorText(err)})
			continue
		}
		contents[i] = b
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return contents, nil
}

// pathErrorText drops the path from an *fs.PathError, which the Error
// already names.
func pathErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func resolveWorkingDir(opts Options) (string, error) {
	dir := opts.WorkingDir
	if dir == "" {
		dir = filepath.Dir(opts.Files[0])
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("working directory %s: %w", dir, err)
	}
	return abs, nil
}

// interpolationEnv is what interpolation sees: the env files, each later one
// overriding the earlier, and then the process environment over them all,
// as docker compose orders them. docker stack deploy itself reads no .env
// file: with none present the two agree.
func interpolationEnv(opts Options, workingDir string) (map[string]string, error) {
	environ := opts.Environ
	if environ == nil {
		environ = osEnviron()
	}
	files := opts.EnvFiles
	if files == nil {
		def := filepath.Join(workingDir, ".env")
		if st, err := os.Stat(def); err == nil && !st.IsDir() {
			files = []string{def}
		}
	}
	fromFiles := map[string]string{}
	var errs ErrorList
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: "cannot read the env file: " + pathErrorText(err)})
			continue
		}
		vars, err := dotenv.ParseWithLookup(bytes.NewReader(b), func(k string) (string, bool) {
			if v, ok := environ[k]; ok {
				return v, true
			}
			v, ok := fromFiles[k]
			return v, ok
		})
		if err != nil {
			errs = append(errs, envFileError(f, b, err))
			continue
		}
		maps.Copy(fromFiles, vars)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	maps.Copy(fromFiles, environ)
	return fromFiles, nil
}

// envLine is the line compose-go's env file parser names in its errors.
var envLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// envFileError places a parse error of an env file at its line. The parser
// names the line after the last for a quote left open: that is the last.
func envFileError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Line: 1, Msg: "cannot parse the env file: " + err.Error()}
	if m := envLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "cannot parse the env file: " + m[2]
	}
	last := bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
	e.Line = max(1, min(e.Line, last))
	return e
}

func osEnviron() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// loadProject runs compose-go in its two steps: the merged, interpolated
// model first, from which modelFacts keeps what the typed project loses,
// then the project. Docker's shell splitting of string commands and its
// reading of env files replace compose-go's. Errors it places itself come
// back as an ErrorList.
func loadProject(ctx context.Context, opts Options, contents [][]byte, workingDir string, env map[string]string, src *sources) (*types.Project, modelFacts, error) {
	silenceComposeLogs()
	details := types.ConfigDetails{
		WorkingDir: workingDir,
		// compose-go writes COMPOSE_PROJECT_NAME into this map: give it a copy.
		Environment: maps.Clone(env),
	}
	merged, err := replaceWholeObjects(src, contents)
	if err != nil {
		return nil, modelFacts{}, err
	}
	for i, f := range opts.Files {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: f, Content: merged[i]})
	}
	lookup := lookupIn(env)
	options := []func(*loader.Options){func(o *loader.Options) {
		// The namespace may hold characters compose project names may not,
		// and compose-go leaks the name into pass-through variables:
		// unsetProjectName finds it there by this placeholder.
		o.SetProjectName(projectPlaceholder, true)
		// compose-go expands ~ from the process's HOME, everywhere;
		// resolveModelPaths resolves paths as Docker does.
		o.ResolvePaths = false
		// Normalisation would inject compose's own defaults (default
		// network, cleaned mount targets, names); Convert applies Docker's.
		o.SkipNormalization = true
		// Docker's checks differ from compose's (no depends_on cycles, no
		// build-or-image rule); Convert makes Docker's.
		o.SkipConsistencyCheck = true
		// compose's defaults are not Docker's: a secret's target would
		// become /run/secrets/NAME where Docker sends NAME, and long-syntax
		// ports would gain a protocol and mode Docker leaves to the engine.
		o.SkipDefaultValues = true
		// Docker reads env files its own way: resolveEnvironments does.
		o.SkipResolveEnvironment = true
		// docker stack deploy has no profiles: every service is deployed.
		o.Profiles = []string{"*"}
		o.Interpolate = &interp.Options{
			Substitute:      dockerSubstitute,
			LookupValue:     interp.LookupValue(lookup),
			TypeCastMapping: composeTypeCasts(),
		}
	}}
	model, err := loader.LoadModelWithContext(ctx, details, options...)
	if err != nil {
		return nil, modelFacts{}, err
	}
	unsetProjectName(model, env)
	pathWarnings := resolveModelPaths(model, workingDir, env)
	facts := readModelFacts(model)
	facts.warnings = pathWarnings
	project, err := loader.ModelToProject(model, loader.ToOptions(&details, options), details)
	if err != nil {
		return nil, facts, err
	}
	errs := facts.splitCommands(project, src)
	errs = append(errs, resolveEnvironments(project, env, src)...)
	if len(errs) > 0 {
		return nil, facts, errs.sorted(opts.Files)
	}
	project.ComposeFiles = slices.Clone(opts.Files)
	// What compose-go was given stays inside Load: the project is named
	// after the stack, and its environment is the stack's.
	project.Name = projectName(opts.Namespace)
	project.Environment = maps.Clone(env)
	return project, facts, nil
}

// composeTypeCasts borrows compose-go's own casts (a replicas count read
// from "${N}" becomes a number): the loader sets them as its default
// interpolation options.
func composeTypeCasts() map[tree.Path]interp.Cast {
	return loader.ToOptions(&types.ConfigDetails{}, nil).Interpolate.TypeCastMapping
}

func projectName(namespace string) string {
	if n := loader.NormalizeProjectName(namespace); n != "" {
		return n
	}
	return "stack"
}

var silenceOnce sync.Once

// silenceComposeLogs keeps compose-go's logrus warnings (the obsolete
// `version` key, deprecated external names) off the terminal: a library
// must not print, and Load reports Docker's own warnings instead. A caller
// that has pointed logrus elsewhere keeps its choice.
func silenceComposeLogs() {
	silenceOnce.Do(func() {
		if std := logrus.StandardLogger(); std.Out == os.Stderr {
			std.SetOutput(io.Discard)
		}
	})
}
