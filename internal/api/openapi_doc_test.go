package api

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"go.yaml.in/yaml/v3"

	"github.com/watchword/watchword/internal/account"
)

// TestOpenAPIDocumentIsValid checks the whole document against the
// OpenAPI 3.1 schema (embedded in libopenapi-validator) and that every
// $ref resolves.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatalf("parse %s: %v", openAPIFile, err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("version %q, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build the model of %s: %v", openAPIFile, errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, f := range e.SchemaValidationErrors {
				t.Errorf("  %s: %s", f.FieldPath, f.Reason)
			}
		}
	}
}

// loadOpenAPINode returns the document as a YAML node tree.
func loadOpenAPINode(t *testing.T) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatalf("parse %s: %v", openAPIFile, err)
	}
	return &root
}

// TestOpenAPINoStrayFlowKeys catches a comma inside an unquoted value of
// a flow mapping ({ description: a, b }): YAML reads "b" as a key without
// a value, which the OpenAPI schema lets through inside schemas and
// examples. No key of this document is meant to be valueless.
func TestOpenAPINoStrayFlowKeys(t *testing.T) {
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" && v.Value == "" {
					t.Errorf("%s:%d: key %q has no value (a comma in an unquoted value?)", openAPIFile, k.Line, k.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(loadOpenAPINode(t))
}

// schemaKeywords are the keywords of JSON Schema 2020-12 and those
// OpenAPI 3.1 adds. JSON Schema ignores unknown keywords, so a typo or a
// stray key in a schema would otherwise pass every check.
var schemaKeywords = map[string]bool{
	// core
	"$schema": true, "$id": true, "$ref": true, "$anchor": true, "$dynamicRef": true,
	"$dynamicAnchor": true, "$vocabulary": true, "$comment": true, "$defs": true,
	// applicator and unevaluated
	"prefixItems": true, "items": true, "contains": true, "additionalProperties": true,
	"properties": true, "patternProperties": true, "dependentSchemas": true,
	"propertyNames": true, "if": true, "then": true, "else": true, "allOf": true,
	"anyOf": true, "oneOf": true, "not": true, "unevaluatedItems": true,
	"unevaluatedProperties": true,
	// validation
	"type": true, "const": true, "enum": true, "multipleOf": true, "maximum": true,
	"exclusiveMaximum": true, "minimum": true, "exclusiveMinimum": true, "maxLength": true,
	"minLength": true, "pattern": true, "maxItems": true, "minItems": true,
	"uniqueItems": true, "maxContains": true, "minContains": true, "maxProperties": true,
	"minProperties": true, "required": true, "dependentRequired": true,
	// meta-data, format, content
	"title": true, "description": true, "default": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "examples": true, "format": true,
	"contentEncoding": true, "contentMediaType": true, "contentSchema": true,
	// OpenAPI 3.1
	"discriminator": true, "xml": true, "externalDocs": true, "example": true,
}

var (
	subschemaKeywords     = []string{"items", "contains", "additionalProperties", "propertyNames", "if", "then", "else", "not", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	subschemaMapKeywords  = []string{"properties", "patternProperties", "dependentSchemas", "$defs"}
	subschemaListKeywords = []string{"prefixItems", "allOf", "anyOf", "oneOf"}
	schemaTypes           = []string{"null", "boolean", "object", "array", "number", "string", "integer"}
)

// TestOpenAPISchemaKeywords checks every schema of the document, nested
// ones included, for keys that are not keywords and for unknown types.
func TestOpenAPISchemaKeywords(t *testing.T) {
	var checkSchema func(n *yaml.Node, where string)
	checkSchema = func(n *yaml.Node, where string) {
		if n.Kind != yaml.MappingNode { // true and false are schemas too
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			at := fmt.Sprintf("%s/%s (line %d)", where, k.Value, k.Line)
			switch {
			case strings.HasPrefix(k.Value, "x-"):
			case !schemaKeywords[k.Value]:
				t.Errorf("%s: %q is not a schema keyword", at, k.Value)
			case k.Value == "type":
				types := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					types = v.Content
				}
				for _, ty := range types {
					if !slices.Contains(schemaTypes, ty.Value) {
						t.Errorf("%s: unknown type %q", at, ty.Value)
					}
				}
			case slices.Contains(subschemaKeywords, k.Value):
				checkSchema(v, where+"/"+k.Value)
			case slices.Contains(subschemaMapKeywords, k.Value):
				for j := 0; j+1 < len(v.Content); j += 2 {
					checkSchema(v.Content[j+1], where+"/"+k.Value+"/"+v.Content[j].Value)
				}
			case slices.Contains(subschemaListKeywords, k.Value):
				for j, c := range v.Content {
					checkSchema(c, fmt.Sprintf("%s/%s/%d", where, k.Value, j))
				}
			}
		}
	}
	// Schemas sit under components/schemas and under every "schema" key
	// (parameters, headers, media types); examples hold data, not schemas.
	count := 0
	var walk func(n *yaml.Node, where string)
	walk = func(n *yaml.Node, where string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for j, c := range n.Content {
				walk(c, fmt.Sprintf("%s/%d", where, j))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case k == "example" || k == "examples":
				case k == "schema":
					count++
					checkSchema(v, where+"/schema")
				case k == "schemas" && where == "/0/components":
					for j := 0; j+1 < len(v.Content); j += 2 {
						count++
						checkSchema(v.Content[j+1], "#/components/schemas/"+v.Content[j].Value)
					}
				default:
					walk(v, where+"/"+k)
				}
			}
		}
	}
	walk(loadOpenAPINode(t), "")
	if count < 20 {
		t.Fatalf("found only %d schemas; is the walk still right?", count)
	}
}

// TestOpenAPIErrorCodes checks that the document's ErrorCode lists
// exactly the codes the API can answer with.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc := loadOpenAPINode(t)
	var spec struct {
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []string `yaml:"enum"`
				} `yaml:"ErrorCode"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := doc.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	documented := spec.Components.Schemas.ErrorCode.Enum
	slices.Sort(documented)
	answered := []string{string(account.CodeInternal)}
	for code := range maps.Keys(statusOf) {
		answered = append(answered, string(code))
	}
	slices.Sort(answered)
	if !slices.Equal(documented, answered) {
		t.Errorf("ErrorCode enum:\n  got  %v\n  want %v", documented, answered)
	}
}
