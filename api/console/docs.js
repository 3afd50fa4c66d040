// The interactive docs (Swagger UI, served from the API itself): reads /openapi.json.
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
