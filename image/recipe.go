package image

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Recipe declares an image: Debian packages from one or more suites, users,
// directories, files and Go programs, and the image's runtime settings.
type Recipe struct {
	Name        string `yaml:"-"`
	Description string `yaml:"description,omitempty"`

	// Suite is the default release (bookworm); its -updates and -security
	// suites are added unless Updates is false.
	Suite   string `yaml:"suite,omitempty"`
	Updates *bool  `yaml:"updates,omitempty"`
	// Suites are further suites (bookworm-backports, trixie) whose packages
	// are used when named as "pkg/suite" or when a dependency needs them.
	Suites     []string `yaml:"suites,omitempty"`
	Mirror     string   `yaml:"mirror,omitempty"`
	Components []string `yaml:"components,omitempty"`

	Packages []string `yaml:"packages,omitempty"`
	Exclude  []string `yaml:"exclude,omitempty"`
	// Drop removes paths (path.Match patterns, a trailing /** for a tree)
	// from the installed packages; Keep re-admits paths the default filter
	// drops (documentation, man pages, translations).
	Drop []string `yaml:"drop,omitempty"`
	Keep []string `yaml:"keep,omitempty"`

	Users  []User  `yaml:"users,omitempty"`
	Groups []Group `yaml:"groups,omitempty"`
	Dirs   []Dir   `yaml:"dirs,omitempty"`
	Files  []File  `yaml:"files,omitempty"`
	Go     []Go    `yaml:"go,omitempty"`
	Npm    []Npm   `yaml:"npm,omitempty"`
	// Python installs packages from PyPI into the image's Python.
	Python *Python `yaml:"python,omitempty"`

	Env        map[string]string `yaml:"env,omitempty"`
	Entrypoint []string          `yaml:"entrypoint,omitempty"`
	Cmd        []string          `yaml:"cmd,omitempty"`
	User       string            `yaml:"user,omitempty"`
	Workdir    string            `yaml:"workdir,omitempty"`
	Ports      []Port            `yaml:"ports,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty"`
	// MaxLayers caps the image's layer count (default 48).
	MaxLayers int `yaml:"maxLayers,omitempty"`
	// Note is said to the user when the recipe is built: what it lacks or
	// which version it carries.
	Note string `yaml:"note,omitempty"`
}

// User is an account written to /etc/passwd.
type User struct {
	Name  string `yaml:"name"`
	UID   int    `yaml:"uid"`
	GID   *int   `yaml:"gid,omitempty"` // default: the user's own group, = uid
	Home  string `yaml:"home,omitempty"`
	Shell string `yaml:"shell,omitempty"`
	// Groups are supplementary groups the user joins.
	Groups []string `yaml:"groups,omitempty"`
}

// Group is a group written to /etc/group.
type Group struct {
	Name string `yaml:"name"`
	GID  int    `yaml:"gid"`
}

// Dir is a directory created with an owner and mode.
type Dir struct {
	Path  string `yaml:"path"`
	Owner string `yaml:"owner,omitempty"` // user or user:group
	Mode  Mode   `yaml:"mode,omitempty"`
}

// File is a file placed in the image, from inline content or a file next
// to the recipe.
type File struct {
	Path    string `yaml:"path"`
	Content string `yaml:"content,omitempty"`
	Source  string `yaml:"source,omitempty"`
	Owner   string `yaml:"owner,omitempty"`
	Mode    Mode   `yaml:"mode,omitempty"`
	// Link makes Path a symbolic link to Link instead.
	Link string `yaml:"link,omitempty"`
}

// Go is a Go program built ko-style and placed in the image.
type Go struct {
	Name string `yaml:"name"`
	// Package is a package path built in Dir's module (default: the
	// recipe's directory), or "module/path@version" fetched through the
	// module proxy.
	Package string   `yaml:"package"`
	Dir     string   `yaml:"dir,omitempty"`
	Dest    string   `yaml:"dest,omitempty"` // default /usr/local/bin/<name>
	CGO     bool     `yaml:"cgo,omitempty"`
	Ldflags []string `yaml:"ldflags,omitempty"`
	Tags    []string `yaml:"tags,omitempty"`
	Env     []string `yaml:"env,omitempty"`
	// BuildPackages are Debian packages whose headers a cgo build needs;
	// they are unpacked into a private sysroot, never into the image.
	BuildPackages []string `yaml:"buildPackages,omitempty"`
	// Headers copies files out of other Go modules onto the include path.
	Headers []Header `yaml:"headers,omitempty"`
}

// Header is one header file taken from a Go module for a cgo build.
type Header struct {
	Module string `yaml:"module"` // path@version
	File   string `yaml:"file"`
	As     string `yaml:"as,omitempty"` // path under the include directory
}

// Port is an exposed port: 80, "53/udp".
type Port string

// Mode is a file mode written in octal in YAML ("0755").
type Mode uint32

// UnmarshalYAML reads an octal mode.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "0o"), 8, 32)
	if err != nil || v > 0o7777 {
		return &posError{n.Line, n.Column, fmt.Sprintf("mode %q is not an octal permission such as 0755", n.Value)}
	}
	*m = Mode(v)
	return nil
}

// UnmarshalYAML accepts a port number or "number/protocol".
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	num, proto, _ := strings.Cut(n.Value, "/")
	v, err := strconv.ParseUint(num, 10, 16)
	if err != nil || v == 0 {
		return &posError{n.Line, n.Column, fmt.Sprintf("port %q is not a port number such as 6379 or 53/udp", n.Value)}
	}
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return &posError{n.Line, n.Column, fmt.Sprintf("port %q: protocol must be tcp, udp or sctp", n.Value)}
	}
	*p = Port(fmt.Sprintf("%d/%s", v, proto))
	return nil
}

// posError is an error of a custom decoder, at its node.
type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return e.msg }

// RecipeError is a problem in one recipe, with its position in the YAML.
type RecipeError struct {
	Path      string // images.redis.packages[1]
	Line, Col int
	Msg       string
}

func (e *RecipeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d: %s: %s", e.Line, e.Col, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

var nameRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)

// DecodeRecipes decodes the mapping under "images:" into recipes. Every
// problem is reported, each as a *RecipeError naming the recipe key and
// the line:col of the offending node; they are joined with errors.Join.
func DecodeRecipes(node *yaml.Node) (map[string]Recipe, error) {
	out := map[string]Recipe{}
	if node == nil {
		return out, nil
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode {
		return nil, &RecipeError{Path: "images", Line: node.Line, Col: node.Column, Msg: "expected a mapping of image names to recipes"}
	}
	var errs []error
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		p := "images." + k.Value
		if !nameRE.MatchString(k.Value) {
			errs = append(errs, &RecipeError{Path: p, Line: k.Line, Col: k.Column, Msg: "an image name is lowercase letters, digits and . _ -"})
			continue
		}
		if _, dup := out[k.Value]; dup {
			errs = append(errs, &RecipeError{Path: p, Line: k.Line, Col: k.Column, Msg: "defined twice"})
			continue
		}
		r, rerrs := decodeRecipe(p, v)
		errs = append(errs, rerrs...)
		if len(rerrs) == 0 {
			r.Name = k.Value
			out[k.Value] = r
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

var (
	recipeKeys       = fieldNames()
	recipeFieldTypes = yamlFields(reflect.TypeFor[Recipe]())
)

func decodeRecipe(p string, v *yaml.Node) (Recipe, []error) {
	var r Recipe
	var errs []error
	if v.Kind != yaml.MappingNode {
		return r, []error{&RecipeError{Path: p, Line: v.Line, Col: v.Column, Msg: "expected a mapping"}}
	}
	// Unknown keys are found here, with their own positions, since yaml's
	// KnownFields only works on a whole document.
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		if !recipeKeys[k.Value] {
			msg := "unknown key"
			if s := suggest(k.Value, recipeKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &RecipeError{Path: p + "." + k.Value, Line: k.Line, Col: k.Column, Msg: msg})
			continue
		}
		field := v.Content[i+1]
		var one Recipe
		pair := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k, field}}
		if err := pair.Decode(&one); err != nil {
			errs = append(errs, yamlError(p+"."+k.Value, field, err))
			continue
		}
		errs = append(errs, unknownKeys(p+"."+k.Value, field, recipeFieldTypes[k.Value])...)
	}
	if len(errs) > 0 {
		return r, errs
	}
	if err := v.Decode(&r); err != nil {
		return r, []error{yamlError(p, v, err)}
	}
	errs = append(errs, r.validate(p, v)...)
	return r, errs
}

// Validate checks a recipe built in Go (the built-ins, or one assembled by
// a caller) as DecodeRecipes checks those in YAML.
func (r *Recipe) Validate() error {
	return errors.Join(r.validate("images."+r.Name, nil)...)
}

func (r *Recipe) validate(p string, v *yaml.Node) []error {
	var errs []error
	at := func(key, msg string) {
		e := &RecipeError{Path: p + "." + key, Msg: msg}
		if n := child(v, key); n != nil {
			e.Line, e.Col = n.Line, n.Column
		} else if v != nil {
			e.Line, e.Col = v.Line, v.Column
		}
		errs = append(errs, e)
	}
	if len(r.Packages) > 0 && r.Suite == "" {
		at("suite", "a recipe with packages names its suite (e.g. bookworm)")
	}
	if r.Python != nil {
		if len(r.Python.Requirements) == 0 && r.Python.File == "" {
			at("python", "give requirements or a file (requirements.txt or pyproject.toml)")
		}
		if r.Python.Version == "" && r.Suite == "" {
			at("python", "the image needs a Python: add python3 to packages, or set python.version")
		}
		if r.Python.Target != "" && !path.IsAbs(r.Python.Target) {
			at("python", fmt.Sprintf("target %q is not an absolute path", r.Python.Target))
		}
		for _, q := range r.Python.Requirements {
			if _, err := parsePyReq(q); err != nil {
				at("python", err.Error())
			}
		}
	}
	if len(r.Packages) == 0 && len(r.Go) == 0 && len(r.Npm) == 0 && len(r.Files) == 0 && r.Python == nil {
		at("packages", "the recipe installs nothing: give packages, go programs or files")
	}
	users := map[string]bool{"root": true}
	for _, u := range r.Users {
		if u.Name == "" || u.UID < 0 {
			at("users", fmt.Sprintf("user %q needs a name and a uid", u.Name))
		}
		users[u.Name] = true
	}
	for _, d := range r.Dirs {
		if !path.IsAbs(d.Path) {
			at("dirs", fmt.Sprintf("%q is not an absolute path", d.Path))
		}
	}
	for _, f := range r.Files {
		if !path.IsAbs(f.Path) {
			at("files", fmt.Sprintf("%q is not an absolute path", f.Path))
		}
		n := 0
		for _, s := range []string{f.Content, f.Source, f.Link} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			at("files", fmt.Sprintf("%s: give one of content, source or link", f.Path))
		}
		if f.Source != "" && (path.IsAbs(f.Source) || !fs.ValidPath(path.Clean(f.Source))) {
			at("files", fmt.Sprintf("%s: source %q must be a relative path beneath the recipe's directory", f.Path, f.Source))
		}
	}
	for _, g := range r.Go {
		if g.Name == "" || g.Package == "" {
			at("go", "a Go program needs a name and a package")
		}
	}
	for _, n := range r.Npm {
		for _, s := range n.Substitutes {
			// amd64 here: the rules know the same versions on every arch.
			if err := s.check("amd64"); err != nil {
				at("npm", fmt.Sprintf("%s: substitutes: %v", n.Name, err))
			}
			if len(s.Npm) > 0 && r.Suite == "" {
				at("suite", "a recipe with npm substitutes names its suite: they come from Debian")
			}
		}
	}
	if r.Workdir != "" && !path.IsAbs(r.Workdir) {
		at("workdir", fmt.Sprintf("%q is not an absolute path", r.Workdir))
	}
	if r.MaxLayers < 0 || (r.MaxLayers > 0 && r.MaxLayers < 4) || r.MaxLayers > 120 {
		at("maxLayers", "between 4 and 120 (overlayfs allows at most 128 layers)")
	}
	return errs
}

func child(v *yaml.Node, key string) *yaml.Node {
	if v == nil || v.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == key {
			return v.Content[i+1]
		}
	}
	return nil
}

// yamlError turns a yaml decode error into a RecipeError at the node.
func yamlError(p string, n *yaml.Node, err error) error {
	msg := err.Error()
	line, col := n.Line, n.Column
	var pe *posError
	if errors.As(err, &pe) {
		return &RecipeError{Path: p, Line: pe.line, Col: pe.col, Msg: pe.msg}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
		// "line 3: cannot unmarshal …": use yaml's own line.
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, m, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(num); err == nil {
					line, col, msg = l, columnAt(n, l), m
				}
			}
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "!!seq", "a list")
	msg = strings.ReplaceAll(msg, "!!map", "a mapping")
	msg = strings.ReplaceAll(msg, "!!str", "a string")
	msg = strings.ReplaceAll(msg, "!!int", "a number")
	return &RecipeError{Path: p, Line: line, Col: col, Msg: msg}
}

// recipeFields are the YAML keys of Recipe.
var recipeFields = []string{"description", "suite", "updates", "suites", "mirror", "components",
	"packages", "exclude", "drop", "keep", "users", "groups", "dirs", "files", "go", "npm", "python", "env",
	"entrypoint", "cmd", "user", "workdir", "ports", "labels", "maxLayers", "note"}

// columnAt finds the column of the first node of n's tree on line.
func columnAt(n *yaml.Node, line int) int {
	if n.Line == line {
		return n.Column
	}
	for _, c := range n.Content {
		if col := columnAt(c, line); col > 0 {
			return col
		}
	}
	return 0
}

func fieldNames() map[string]bool {
	out := map[string]bool{}
	for _, k := range recipeFields {
		out[k] = true
	}
	return out
}

// suggest returns the known key closest to k, if it is close.
func suggest(k string, known map[string]bool) string {
	best, bestD := "", 3
	keys := make([]string, 0, len(known))
	for c := range known {
		keys = append(keys, c)
	}
	sort.Strings(keys)
	for _, c := range keys {
		if d := editDistance(strings.ToLower(k), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

//go:embed builtin.yaml
var builtinYAML []byte

// Builtin returns the built-in recipes of the seed's images.
func Builtin() map[string]Recipe {
	var doc yaml.Node
	if err := yaml.Unmarshal(builtinYAML, &doc); err != nil {
		panic(fmt.Sprintf("image: built-in recipes: %v", err))
	}
	rs, err := DecodeRecipes(&doc)
	if err != nil {
		panic(fmt.Sprintf("image: built-in recipes: %v", err))
	}
	addServiceRecipes(rs)
	return rs
}
