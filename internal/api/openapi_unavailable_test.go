package api

import (
	"strings"
	"testing"
)

// TestOpenAPIEveryOperationMayBeUnavailable: any call of the API can meet
// a database that cannot be reached, and then answers 503 unavailable
// (writeError), so every operation documents it, as it does 500.
func TestOpenAPIEveryOperationMayBeUnavailable(t *testing.T) {
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths {
		if servicePaths[path] {
			continue
		}
		for key, node := range item {
			if !httpMethods[key] {
				continue
			}
			var op struct {
				Responses map[string]struct {
					Ref string `yaml:"$ref"`
				} `yaml:"responses"`
			}
			where := strings.ToUpper(key) + " " + path
			if err := node.Decode(&op); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			for status, want := range map[string]string{
				"500": "#/components/responses/InternalError",
				"503": "#/components/responses/Unavailable",
			} {
				if got := op.Responses[status].Ref; got != want {
					t.Errorf("%s: %s is %q, want %q", where, status, got, want)
				}
			}
		}
	}
}
