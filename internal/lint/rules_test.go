// Package lint holds the repository's structural checks. It is test-only: it
// has no non-test files, so nothing can import it, and `go test ./...` runs it
// with the rest of the suite (pebble's internal/lint is the model).
//
// The checks read source files with go/parser, not go/build with one GOOS, so
// files gated to darwin, windows or a custom build tag obey the same rules as
// the ones built here.
package lint

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// modulePath is the main module's path; import paths under it are in-module.
const modulePath = "github.com/mmapwal/mmapwal"

// rule says what one package of the main module may import from its non-test
// files. Standard-library packages are always allowed, except those that
// noSyscall and checkUnsafe reserve for internal/sysutil.
type rule struct {
	// inModule lists the module-relative directories of the in-module
	// packages the package may import.
	inModule []string
	// external lists the third-party import paths (each also covers the
	// paths below it) the package may import.
	external []string
	// testExternal lists third-party import paths that only _test.go
	// files may import (besides testify).
	testExternal []string
	// syscall allows the standard syscall package.
	syscall bool
}

const (
	crc32Module = "github.com/klauspost/crc32"
	sysModule   = "golang.org/x/sys"
	testifyPath = "github.com/stretchr/testify"
)

// rules is the package dependency table of style.md §3; arrows point down
// only. Keys are module-relative directories; a key ending in "/..." covers
// the directory and everything below it. A new package must be added here:
// the lint fails on a package the table does not know.
var rules = map[string]rule{
	"crcframe":         {external: []string{crc32Module}},
	"internal/sysutil": {external: []string{sysModule}, syscall: true},
	"segment":          {inModule: []string{"crcframe", "internal/sysutil"}, external: []string{crc32Module}},
	"mmapwal":          {inModule: []string{"segment", "crcframe", "internal/sysutil"}, external: []string{crc32Module}},
	"cmd/...":          {inModule: []string{"mmapwal", "internal/measure"}},
	// The operator's tool shows raw frames and single segment files too
	// (style.md, Turn 2): the public API and segment, never sysutil.
	"cmd/mmapwal":   {inModule: []string{"mmapwal", "segment", "crcframe"}},
	"internal/lint": {},
	// internal/measure is the measurement code of cmd/ and bench/ (whose
	// imports this table does not see: it is another module): standard
	// library only, nothing of the engine.
	"internal/measure": {},
}

// Nested modules that the lint checks (bench/ is left to its own tests)
// and their table, keyed like rules by directories relative to the main
// module's root. raftstore imports mmapwal only; raft is its one
// third-party dependency, and its tests compare with raft-boltdb and
// raft-wal.
var (
	nestedModules = []string{"raftstore"}
	nestedRules   = map[string]rule{
		"raftstore": {inModule: []string{"mmapwal"}, external: []string{raftModule}, testExternal: raftTestModules},
		"raftstore/...": {inModule: []string{"mmapwal", "raftstore"}, external: []string{raftModule},
			testExternal: raftTestModules},
	}
)

const raftModule = "github.com/hashicorp/raft"

// raftTestModules are what raftstore's tests may import beyond raft: the
// stores it is compared with, and raft's own logger (go-hclog, already a
// dependency of raft), which the cluster tests configure.
var raftTestModules = []string{"github.com/hashicorp/raft-boltdb/v2", "github.com/hashicorp/raft-wal", "github.com/hashicorp/go-hclog"}

// unsafeDirs are the only packages whose files (test files included) may
// import unsafe.
var unsafeDirs = map[string]bool{"internal/sysutil": true}

// allowedDirect are the only modules the main go.mod may require directly.
// Tools run with `go run pkg@version` and bench-only modules live in
// bench/go.mod.
var allowedDirect = map[string]bool{
	sysModule:   true,
	crc32Module: true,
	testifyPath: true,
}

// lookupRule finds the rule for the package in module-relative directory dir.
func lookupRule(table map[string]rule, dir string) (rule, bool) {
	if r, ok := table[dir]; ok {
		return r, true
	}
	for key, r := range table {
		prefix, ok := strings.CutSuffix(key, "/...")
		if ok && (dir == prefix || strings.HasPrefix(dir, prefix+"/")) {
			return r, true
		}
	}
	return rule{}, false
}

// isStdlib reports whether path names a standard-library package: its first
// element has no dot, as every module path outside the standard library has.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// underPath reports whether path is prefix or a package below it.
func underPath(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// checkImports returns one message per import of the package in dir that the
// table forbids. test says the imports come from a _test.go file, which may
// also import testify and the package itself.
func checkImports(table map[string]rule, dir string, test bool, imports []string) []string {
	r, ok := lookupRule(table, dir)
	if !ok {
		return []string{fmt.Sprintf("package %q is not in the dependency table: add it to `rules` in internal/lint/rules_test.go (and to style.md §3)", dir)}
	}
	var bad []string
	for _, p := range imports {
		if msg := checkImport(r, dir, test, p); msg != "" {
			bad = append(bad, msg)
		}
	}
	return bad
}

// checkImport returns why package dir may not import path, or "".
func checkImport(r rule, dir string, test bool, path string) string {
	switch {
	case path == modulePath || strings.HasPrefix(path, modulePath+"/"):
		target := strings.TrimPrefix(strings.TrimPrefix(path, modulePath), "/")
		if target == "" {
			target = "."
		}
		if (test && target == dir) || slices.Contains(r.inModule, target) {
			return ""
		}
		return fmt.Sprintf("%s may not import %q (allowed in-module: %s; see `rules` in internal/lint/rules_test.go)",
			dir, path, listOrNone(r.inModule))
	case isStdlib(path):
		if path == "syscall" && !r.syscall && !test {
			return fmt.Sprintf("%s may not import syscall: system calls live in internal/sysutil", dir)
		}
		return ""
	default:
		if test && (underPath(path, testifyPath) || slices.ContainsFunc(r.testExternal, func(p string) bool { return underPath(path, p) })) {
			return ""
		}
		for _, prefix := range r.external {
			if underPath(path, prefix) {
				return ""
			}
		}
		return fmt.Sprintf("%s may not import third-party %q (allowed: %s; see `rules` in internal/lint/rules_test.go)",
			dir, path, listOrNone(r.external))
	}
}

// checkUnsafe returns a message if the package in dir may not import unsafe
// but imports lists it.
func checkUnsafe(dir string, imports []string) string {
	if unsafeDirs[dir] || !slices.Contains(imports, "unsafe") {
		return ""
	}
	return fmt.Sprintf("%s imports unsafe: only internal/sysutil may", dir)
}

// rawAtomics returns the position of every use of a package-level function of
// sync/atomic (atomic.AddUint64, atomic.LoadInt32, ...) in f. Typed atomics
// (atomic.Uint64 and friends) are fine: they cannot be mixed with plain
// accesses and are aligned on 32-bit platforms. funcs is the set of function
// names that sync/atomic exports.
func rawAtomics(fset *token.FileSet, f *ast.File, funcs map[string]bool) []string {
	var names []string
	var bad []string
	for _, spec := range f.Imports {
		if p, err := strconv.Unquote(spec.Path.Value); err != nil || p != "sync/atomic" {
			continue
		}
		switch {
		case spec.Name == nil:
			names = append(names, "atomic")
		case spec.Name.Name == ".":
			bad = append(bad, fmt.Sprintf("%s: dot import of sync/atomic; import it by name and use its typed atomics", fset.Position(spec.Pos())))
		case spec.Name.Name != "_":
			names = append(names, spec.Name.Name)
		}
	}
	if len(names) == 0 {
		return bad
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && slices.Contains(names, id.Name) && funcs[sel.Sel.Name] {
			bad = append(bad, fmt.Sprintf("%s: raw atomic %s.%s: use a typed atomic (atomic.Uint64, atomic.Int32, ...)",
				fset.Position(sel.Pos()), id.Name, sel.Sel.Name))
		}
		return true
	})
	return bad
}

// checkGoMod returns one message per module that the go.mod text data
// requires directly (without an "// indirect" comment) but allowedDirect does
// not list.
func checkGoMod(data []byte) []string {
	var bad []string
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		code, comment, _ := strings.Cut(line, "//")
		fields := strings.Fields(code)
		switch {
		case len(fields) == 0:
			continue
		case inBlock && fields[0] == ")":
			inBlock = false
			continue
		case !inBlock && fields[0] == "require":
			fields = fields[1:]
			if len(fields) == 1 && fields[0] == "(" {
				inBlock = true
				continue
			}
		case !inBlock:
			continue
		}
		if len(fields) < 2 || strings.TrimSpace(comment) == "indirect" {
			continue
		}
		mod, err := strconv.Unquote(fields[0])
		if err != nil {
			mod = fields[0]
		}
		if !allowedDirect[mod] {
			bad = append(bad, fmt.Sprintf("go.mod requires %s directly; the main module may require only %s (run tools with `go run pkg@version`; bench-only modules go in bench/go.mod)",
				mod, listOrNone(slices.Sorted(maps.Keys(allowedDirect)))))
		}
	}
	return bad
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
