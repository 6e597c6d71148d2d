package generate

import _ "embed"

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPISpec returns the OpenAPI 3 YAML of the shop API's documented
// surface, with one deprecated operation (GET /api/v1/cart/items). Give it
// to the route normaliser and the shadow_api detector: the generated
// traffic's shadow and zombie calls are judged against it. Static assets
// (/static/..., /favicon.ico, /robots.txt, /sitemap.xml) are web content,
// not API, and are not in it. The caller gets its own copy.
func OpenAPISpec() []byte {
	return append([]byte(nil), openAPISpec...)
}
