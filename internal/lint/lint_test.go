package lint

import (
	"bytes"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goFile is one parsed .go file of the main module.
type goFile struct {
	path    string // module-relative, slash-separated: "segment/file.go"
	dir     string // module-relative package directory: "segment", or "."
	test    bool   // a _test.go file
	imports []string
	ast     *ast.File
}

// moduleRoot walks up from the working directory to the main module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// skipDir reports whether the walk leaves out directory dir (not the root):
// hidden and underscore directories and testdata, which the go command
// ignores too, and nested modules such as bench/, which have their own rules.
func skipDir(dir string, name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" {
		return true
	}
	_, err := os.Stat(filepath.Join(dir, "go.mod"))
	return err == nil
}

// loadModule parses every .go file of the main module, whatever its build
// constraints. Packages that do not exist yet are simply not found.
func loadModule(t *testing.T) (*token.FileSet, []goFile) {
	t.Helper()
	fset, files := loadTree(t, moduleRoot(t))
	// The walk must at least find this package, or it looked in the wrong
	// place and every check below would pass vacuously.
	if !slices.ContainsFunc(files, func(f goFile) bool { return f.dir == "internal/lint" }) {
		t.Fatalf("walk of %s found no files of internal/lint", moduleRoot(t))
	}
	return fset, files
}

// loadTree parses every .go file under start (the main module's root or a
// nested module's directory), leaving out the nested modules below start.
// Paths are relative to the main module's root.
func loadTree(t *testing.T, start string) (*token.FileSet, []goFile) {
	t.Helper()
	root := moduleRoot(t)
	fset := token.NewFileSet()
	var files []goFile
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != start && skipDir(path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".go") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Positions name files relative to the module root.
		f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse: %v", err)
			return nil
		}
		gf := goFile{path: rel, dir: filepath.ToSlash(filepath.Dir(rel)), test: strings.HasSuffix(rel, "_test.go"), ast: f}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			gf.imports = append(gf.imports, p)
		}
		files = append(files, gf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fset, files
}

// atomicFuncs returns the names of the functions that sync/atomic exports,
// type-checked from the standard library's source so that new ones (AndInt32,
// OrUint64, ...) are covered without a list to maintain.
func atomicFuncs(t *testing.T) map[string]bool {
	t.Helper()
	pkg, err := importer.ForCompiler(token.NewFileSet(), "source", nil).Import("sync/atomic")
	if err != nil {
		t.Fatalf("type-check sync/atomic: %v", err)
	}
	funcs := make(map[string]bool)
	for _, name := range pkg.Scope().Names() {
		if _, ok := pkg.Scope().Lookup(name).(*types.Func); ok {
			funcs[name] = true
		}
	}
	if !funcs["AddUint64"] || funcs["Uint64"] {
		t.Fatalf("sync/atomic functions look wrong: %v", funcs)
	}
	return funcs
}

// TestImportDirection enforces the package dependency table (style.md §3):
// in-module imports point down only, third-party modules are used only where
// listed, and system calls stay in internal/sysutil.
func TestImportDirection(t *testing.T) {
	_, files := loadModule(t)
	for _, f := range files {
		for _, msg := range checkImports(rules, f.dir, f.test, f.imports) {
			t.Errorf("%s: %s", f.path, msg)
		}
	}
}

// TestNestedModules applies the dependency table, the unsafe rule and the
// raw-atomics rule to the nested modules that nestedRules lists (raftstore:
// it imports mmapwal only, never the reverse).
func TestNestedModules(t *testing.T) {
	funcs := atomicFuncs(t)
	for _, dir := range nestedModules {
		start := filepath.Join(moduleRoot(t), dir)
		if _, err := os.Stat(filepath.Join(start, "go.mod")); err != nil {
			t.Errorf("nested module %s: %v", dir, err)
			continue
		}
		fset, files := loadTree(t, start)
		if !slices.ContainsFunc(files, func(f goFile) bool { return !f.test }) {
			t.Errorf("nested module %s: no non-test file found", dir)
		}
		for _, f := range files {
			for _, msg := range checkImports(nestedRules, f.dir, f.test, f.imports) {
				t.Errorf("%s: %s", f.path, msg)
			}
			if msg := checkUnsafe(f.dir, f.imports); msg != "" {
				t.Errorf("%s: %s", f.path, msg)
			}
			for _, msg := range rawAtomics(fset, f.ast, funcs) {
				t.Error(msg)
			}
		}
	}
}

// TestNoUnsafe allows unsafe only in internal/sysutil, test files included.
func TestNoUnsafe(t *testing.T) {
	_, files := loadModule(t)
	for _, f := range files {
		if msg := checkUnsafe(f.dir, f.imports); msg != "" {
			t.Errorf("%s: %s", f.path, msg)
		}
	}
}

// TestRawAtomics forbids the package-level functions of sync/atomic
// everywhere; typed atomics only (pebble's TestRawAtomics).
func TestRawAtomics(t *testing.T) {
	fset, files := loadModule(t)
	funcs := atomicFuncs(t)
	for _, f := range files {
		for _, msg := range rawAtomics(fset, f.ast, funcs) {
			t.Error(msg)
		}
	}
}

// TestGoModRequires keeps the main module's direct requirements to the three
// that style.md names.
func TestGoModRequires(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range checkGoMod(data) {
		t.Error(msg)
	}
}

// The tests below feed the checkers synthetic violations, to show that each
// one catches what it is meant to and that the clean tree is not clean by
// accident.

func TestCheckImportsCatchesViolations(t *testing.T) {
	in := func(dir string) string { return modulePath + "/" + dir }
	tests := []struct {
		name    string
		dir     string
		test    bool
		imports []string
		want    string // substring of the single expected message; "" = clean
	}{
		{"crcframe pure", "crcframe", false, []string{"encoding/binary", "errors", crc32Module}, ""},
		{"crcframe imports segment", "crcframe", false, []string{in("segment")}, `may not import "` + in("segment")},
		{"crcframe imports x/sys", "crcframe", false, []string{"golang.org/x/sys/unix"}, "third-party"},
		{"sysutil syscalls", "internal/sysutil", false, []string{"golang.org/x/sys/unix", "syscall", "unsafe"}, ""},
		{"sysutil imports crcframe", "internal/sysutil", false, []string{in("crcframe")}, "may not import"},
		{"segment down", "segment", false, []string{in("crcframe"), in("internal/sysutil"), "os"}, ""},
		{"segment imports mmapwal", "segment", false, []string{in("mmapwal")}, "may not import"},
		{"segment imports x/sys", "segment", false, []string{"golang.org/x/sys/unix"}, "third-party"},
		{"segment imports syscall", "segment", false, []string{"syscall"}, "internal/sysutil"},
		{"segment test imports syscall", "segment", true, []string{"syscall"}, ""},
		{"mmapwal down", "mmapwal", false, []string{in("segment"), in("crcframe"), in("internal/sysutil")}, ""},
		{"mmapwal imports bench", "mmapwal", false, []string{in("bench")}, "may not import"},
		{"mmapwal imports testify", "mmapwal", false, []string{testifyPath + "/require"}, "third-party"},
		{"mmapwal test imports testify and itself", "mmapwal", true, []string{testifyPath + "/require", in("mmapwal")}, ""},
		{"segment test imports mmapwal", "segment", true, []string{in("mmapwal")}, "may not import"},
		{"cmd imports mmapwal", "cmd/walbench", false, []string{in("mmapwal"), "flag"}, ""},
		{"cmd imports segment", "cmd/walbench", false, []string{in("segment")}, "may not import"},
		{"cmd imports measure", "cmd/walbench", false, []string{in("internal/measure"), in("mmapwal")}, ""},
		{"measure stdlib only", "internal/measure", false, []string{"reflect", "encoding/xml", "os"}, ""},
		{"measure imports mmapwal", "internal/measure", false, []string{in("mmapwal")}, "may not import"},
		{"measure imports sysutil", "internal/measure", false, []string{in("internal/sysutil")}, "may not import"},
		{"measure imports syscall", "internal/measure", false, []string{"syscall"}, "internal/sysutil"},
		{"measure imports x/sys", "internal/measure", false, []string{"golang.org/x/sys/unix"}, "third-party"},
		{"mmapwal imports measure", "mmapwal", false, []string{in("internal/measure")}, "may not import"},
		{"cmd imports another cmd", "cmd/walbench", false, []string{in("cmd/other")}, "may not import"},
		{"unknown package", "mmapwal/internal/extra", false, []string{"fmt"}, "add it to `rules`"},
		{"root package", ".", false, nil, "not in the dependency table"},
	}
	nested := map[string]bool{}
	for _, tt := range []struct {
		name    string
		dir     string
		test    bool
		imports []string
		want    string
	}{
		{"raftstore imports mmapwal and raft", "raftstore", false, []string{in("mmapwal"), raftModule, "log/slog"}, ""},
		{"raftstore imports segment", "raftstore", false, []string{in("segment")}, "may not import"},
		{"raftstore imports crcframe", "raftstore", false, []string{in("crcframe")}, "may not import"},
		{"raftstore imports raft-boltdb", "raftstore", false, []string{raftTestModules[0]}, "third-party"},
		{"raftstore test imports raft-boltdb and raft-wal", "raftstore", true, []string{raftTestModules[0], raftTestModules[1] + "/fs", raftModule + "/bench"}, ""},
		{"raftstore test imports pebble", "raftstore", true, []string{"github.com/cockroachdb/pebble/v2"}, "third-party"},
	} {
		tests = append(tests, tt)
		nested[tt.name] = true
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := rules
			if nested[tt.name] {
				table = nestedRules
			}
			got := checkImports(table, tt.dir, tt.test, tt.imports)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no violation, got %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Fatalf("want one violation containing %q, got %q", tt.want, got)
			}
		})
	}
}

func TestCheckUnsafeCatchesViolations(t *testing.T) {
	if msg := checkUnsafe("segment", []string{"os", "unsafe"}); msg == "" {
		t.Error("unsafe in segment not reported")
	}
	if msg := checkUnsafe("internal/sysutil", []string{"unsafe"}); msg != "" {
		t.Errorf("unsafe in internal/sysutil reported: %s", msg)
	}
	if msg := checkUnsafe("segment", []string{"os"}); msg != "" {
		t.Errorf("no unsafe, but reported: %s", msg)
	}
}

func TestRawAtomicsCatchesViolations(t *testing.T) {
	const src = `package p

import (
	"sync/atomic"
	at "sync/atomic"
)

type s struct {
	n  atomic.Uint64 // typed: fine
	m  at.Int32      // typed through an alias: fine
	v  atomic.Value  // fine
	r  int64
	u  uint32
}

func f(x *s) {
	x.n.Add(1)                       // fine
	atomic.AddInt64(&x.r, 1)         // raw
	_ = at.LoadUint32(&x.u)          // raw, through an alias
	g := atomic.CompareAndSwapInt64  // raw, as a value
	_ = g
}
`
	const dotSrc = `package p

import . "sync/atomic"

var n Uint64
`
	fset := token.NewFileSet()
	funcs := atomicFuncs(t)
	check := func(src string) []string {
		f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		return rawAtomics(fset, f, funcs)
	}
	got := check(src)
	want := []string{"atomic.AddInt64", "at.LoadUint32", "atomic.CompareAndSwapInt64"}
	if len(got) != len(want) {
		t.Fatalf("want %d violations, got %q", len(want), got)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("violation %d: want %s, got %q", i, w, got[i])
		}
	}
	if got := check(dotSrc); len(got) != 1 || !strings.Contains(got[0], "dot import") {
		t.Errorf("dot import: got %q", got)
	}
	if got := check("package p\n\nfunc f() { atomic.AddInt64(nil, 1) }\n"); len(got) != 0 {
		t.Errorf("file without the import: got %q", got)
	}
}

func TestCheckGoModCatchesViolations(t *testing.T) {
	const good = `module github.com/mmapwal/mmapwal

go 1.26.0

require golang.org/x/sys v0.50.0

require (
	github.com/klauspost/crc32 v1.3.0
	github.com/stretchr/testify v1.12.1
	github.com/davecgh/go-spew v1.1.1 // indirect
)
`
	if got := checkGoMod([]byte(good)); len(got) != 0 {
		t.Errorf("clean go.mod reported: %q", got)
	}
	const bad = `module github.com/mmapwal/mmapwal

go 1.26.0

require github.com/pkg/errors v0.9.1

require (
	golang.org/x/sys v0.50.0
	honnef.co/go/tools v0.7.0 // a tool
)
`
	got := checkGoMod([]byte(bad))
	if len(got) != 2 || !strings.Contains(got[0], "github.com/pkg/errors") || !strings.Contains(got[1], "honnef.co/go/tools") {
		t.Errorf("want violations for github.com/pkg/errors and honnef.co/go/tools, got %q", got)
	}
}
