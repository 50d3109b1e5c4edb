// Starts Swagger UI on /docs (cloud_api/routers/docs.py); a file, not an inline script,
// so the page's Content-Security-Policy can forbid inline scripts.
"use strict";

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // the token given to "Authorize" survives a reload (kept in this browser's localStorage)
    persistAuthorization: true,
    // no badge image from validator.swagger.io: the page talks to this API only
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Logged in to the cockpit instead of using "Authorize"? The session cookie goes
    // along (same origin), and a change needs this header with it (cloud_api/sessions.py).
    requestInterceptor: (request) => {
      request.headers["X-Steward-Request"] = "1";
      return request;
    },
  });
});
