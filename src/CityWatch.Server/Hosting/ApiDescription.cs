using System.Text.Json.Nodes;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace CityWatch.Server;

/// <summary>
/// The API described as OpenAPI 3 at <see cref="Path"/>, public like the API's shape itself (what the data is
/// stays behind each endpoint's roles). Request and response schemas come from the endpoints' typed results;
/// three transformers add what the generator cannot see: enums as the names the API reads and writes
/// (<see cref="EnumNames"/> is a converter of our own, so the generator would leave them untyped), and who may
/// call each operation, read from the same <see cref="Access"/> declarations the server enforces: the roles in
/// <c>x-citywatch-roles</c> and the description, and the bearer session as its security requirement. The operation transformer then hands each operation to
/// <see cref="ApiExamples"/> for its examples and problem responses.
/// </summary>
internal static class ApiDescription
{
    public const string Path = "/openapi/v1.json";
    public const string RolesExtension = "x-citywatch-roles";
    private const string SessionScheme = "session";

    public static IServiceCollection AddApiDescription(this IServiceCollection services) => services.AddOpenApi(options =>
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "CityWatch",
                Version = "v1",
                Description = "The CityWatch API. Errors are RFC 9457 problem details. Each operation names the roles that may call it in x-citywatch-roles.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SessionScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The token from POST /api/auth/sign-in (or the session cookie, or an edge key for the edge endpoints).",
            };
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            var type = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
            if (type.IsEnum)
            {
                schema.Type = type == context.JsonTypeInfo.Type ? JsonSchemaType.String : JsonSchemaType.String | JsonSchemaType.Null;
                schema.Enum = Enum.GetNames(type).Select(n => (JsonNode)JsonValue.Create(n)).ToList();
            }

            return Task.CompletedTask;
        });
        options.AddOperationTransformer(async (operation, context, ct) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            var who = metadata.OfType<PublicEndpoint>().Any()
                ? ["public"]
                : metadata.OfType<AllowedRoles>().LastOrDefault() is { Roles.Count: > 0 } allowed
                    ? allowed.Roles.Select(r => r.ToString()).ToArray()
                    : new[] { "any signed-in account" };
            var array = new JsonArray();
            foreach (var role in who)
            {
                array.Add(role);
            }

            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            operation.Extensions[RolesExtension] = new JsonNodeExtension(array);
            operation.Description = $"Who may call: {string.Join(", ", who)}.{(operation.Description is { } more ? " " + more : "")}";
            if (who is not ["public"])
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SessionScheme, context.Document)] = [] }];
            }

            await ApiExamples.ApplyAsync(operation, context, who is ["public"], ct);
        });
    });

    public static WebApplication MapApiDescription(this WebApplication app)
    {
        app.MapOpenApi().Public();
        return app;
    }
}
