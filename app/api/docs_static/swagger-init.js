// Swagger UI for /openapi.json, from a file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts (the page is where keys get pasted).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
});
