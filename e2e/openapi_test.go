package e2e

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// openAPIFile is the API description every answer of the API is checked
// against (see server.send).
const openAPIFile = "../api/openapi.yaml"

// apiContract checks real answers against the document with
// libopenapi-validator.
type apiContract struct {
	// mu serializes checks: the validator keeps caches and is not
	// documented as safe for concurrent use, and tests send in parallel.
	mu      sync.Mutex
	v       validator.Validator
	model   *v3.Document
	schemas schema_validation.SchemaValidator
}

var loadContract = sync.OnceValues(func() (*apiContract, error) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	opts := []config.Option{config.WithFormatAssertions()}
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%v", errs)
	}
	return &apiContract{v: v, model: &model.Model, schemas: schema_validation.NewSchemaValidator(opts...)}, nil
})

// checkAPIAnswer fails the test unless the answer to req (with its body
// raw, already read) is one the document describes: a status listed for
// the operation, with the documented headers and a body that matches the
// response's schema. Answers outside every operation must be the
// document's NoSuchEndpoint (unknown path) or MethodNotAllowed (known path,
// other method).
func (s *server) checkAPIAnswer(req *http.Request, resp *http.Response, raw []byte) {
	s.t.Helper()
	c, err := loadContract()
	if err != nil {
		s.t.Errorf("load %s: %v", openAPIFile, err)
		return
	}
	for _, problem := range c.check(req, resp, raw) {
		// Errorf, not Fatalf: send also runs on goroutines of the tests.
		s.t.Errorf("%s %s answered %d %.300q\n  not as %s says: %s",
			req.Method, req.URL.Path, resp.StatusCode, raw, openAPIFile, problem)
	}
}

// check returns what in the answer departs from the document.
func (c *apiContract) check(req *http.Request, resp *http.Response, raw []byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	answer := *resp
	answer.Body = io.NopCloser(bytes.NewReader(raw))

	item, errs, _ := paths.FindPath(req, c.model, nil)
	switch {
	case item == nil:
		return c.checkComponent(req, &answer, raw, "NoSuchEndpoint", http.StatusNotFound)
	case len(errs) > 0:
		problems := c.checkComponent(req, &answer, raw, "MethodNotAllowed", http.StatusMethodNotAllowed)
		var want []string
		for m := range item.GetOperations().KeysFromOldest() {
			want = append(want, strings.ToUpper(m))
			if strings.EqualFold(m, http.MethodGet) {
				want = append(want, http.MethodHead)
			}
		}
		got := strings.Split(resp.Header.Get("Allow"), ", ")
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("Allow lists %v, the document %v", got, want))
		}
		return problems
	}
	_, verrs := c.v.ValidateHttpResponse(req, &answer)
	return describe(verrs)
}

// checkComponent checks an answer against components/responses/name,
// which no operation references.
func (c *apiContract) checkComponent(req *http.Request, resp *http.Response, raw []byte, name string, status int) []string {
	var problems []string
	if resp.StatusCode != status {
		problems = append(problems, fmt.Sprintf("status %d, want %d (%s)", resp.StatusCode, status, name))
	}
	doc, ok := c.model.Components.Responses.Get(name)
	if !ok {
		return append(problems, "components/responses/"+name+" is missing")
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := doc.Content.Get(mt)
	if !ok {
		return append(problems, fmt.Sprintf("content type %q is not documented for %s", mt, name))
	}
	if req.Method != http.MethodHead { // a HEAD answer has no body
		if _, errs := c.schemas.ValidateSchemaBytes(media.Schema.Schema(), raw); len(errs) > 0 {
			problems = append(problems, describe(errs)...)
		}
	}
	if _, errs := responses.ValidateResponseHeaders(req, resp, doc.Headers, "", strconv.Itoa(status)); len(errs) > 0 {
		problems = append(problems, describe(errs)...)
	}
	return problems
}

// describe renders validation errors with their schema failures.
func describe(errs []*liberrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			msg += fmt.Sprintf("\n    %s %s", f.FieldPath, f.Reason)
		}
		out = append(out, msg)
	}
	return out
}
