package api

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIFile is the API description, relative to this package.
var openAPIFile = filepath.Join("..", "..", "api", "openapi.yaml")

// servicePaths are documented in openapi.yaml but served outside the API
// router (by cmd/watchword), so the route table does not list them.
var servicePaths = map[string]bool{
	"/healthz":    true,
	"/readyz":     true,
	"/metrics":    true,
	"/dev/outbox": true,
}

// httpMethods are the keys of an OpenAPI path item that are operations.
var httpMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

type openAPIDoc struct {
	OpenAPI string `yaml:"openapi"`
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

type openAPIOperation struct {
	OperationID string   `yaml:"operationId"`
	Tags        []string `yaml:"tags"`
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatalf("read the API description: %v", err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIFile, err)
	}
	return &doc
}

// documentedOperations returns every "METHOD /path" of doc, with the
// method upper-cased and the path as written (relative to the server URL).
func documentedOperations(doc *openAPIDoc) map[string]bool {
	ops := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if httpMethods[key] {
				ops[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	return ops
}

// openAPIPath turns a ServeMux path into OpenAPI's template syntax:
// "{name...}" becomes "{name}" and a trailing "{$}" is dropped.
func openAPIPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return strings.ReplaceAll(p, "...}", "}")
}

func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL != Prefix {
		t.Errorf("the first server URL must be %q, the prefix the paths are relative to; servers = %+v", Prefix, doc.Servers)
	}

	// Building the route table must not touch the (nil) service or logger.
	patterns := New(nil, nil, nil).Patterns()
	if len(patterns) == 0 {
		t.Fatal("Patterns() returned no routes")
	}

	documented := documentedOperations(doc)
	routed := map[string]bool{}
	var missing []string
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, Prefix+"/") {
			t.Errorf("pattern %q is not \"METHOD %s/...\"", p, Prefix)
			continue
		}
		op := strings.ToUpper(method) + " " + openAPIPath(strings.TrimPrefix(path, Prefix))
		routed[op] = true
		if !documented[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%s does not document %d route(s) of the router:\n  %s",
			openAPIFile, len(missing), strings.Join(missing, "\n  "))
	}

	var extra []string
	for op := range documented {
		_, path, _ := strings.Cut(op, " ")
		if servicePaths[path] || routed[op] {
			continue
		}
		extra = append(extra, op)
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		t.Errorf("%s documents %d operation(s) the router does not serve:\n  %s",
			openAPIFile, len(extra), strings.Join(extra, "\n  "))
	}

	for path := range servicePaths {
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("service endpoint %s is not documented", path)
		}
	}
}

func TestOpenAPIOperationsAreNamed(t *testing.T) {
	doc := loadOpenAPI(t)
	seen := map[string]string{}
	for path, item := range doc.Paths {
		for key, node := range item {
			if !httpMethods[key] {
				continue
			}
			where := strings.ToUpper(key) + " " + path
			var op openAPIOperation
			if err := node.Decode(&op); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %q is used by both %s and %s", op.OperationID, prev, where)
			} else {
				seen[op.OperationID] = where
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s has no tags", where)
			}
		}
	}
}
