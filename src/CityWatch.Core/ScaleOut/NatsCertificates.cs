using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace CityWatch.ScaleOut;

/// <summary>Where <see cref="NatsCertificates.Write"/> put its files: the CA's certificate (what clients trust), the server's certificate and its key.</summary>
public sealed record NatsTlsFiles(string CaFile, string CertFile, string KeyFile)
{
    /// <summary>The <c>tls { ... }</c> block for nats-server's configuration file (nats-server 2.9 reads PEM files).</summary>
    public string ServerConfiguration() =>
        "tls {\n  cert_file: " + Quoted(CertFile) + "\n  key_file: " + Quoted(KeyFile) + "\n  timeout: 5\n}\n";

    private static string Quoted(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}

/// <summary>
/// A throwaway CA and a server certificate signed by it, for a nats-server on one address (ECDSA P-256, SHA-256; the
/// address as an IP subject alternative name, which is what a client checks a <c>nats://127.0.0.1:port</c> URL
/// against). For <c>citywatch sim</c> and the tests, which start their own nats-server per run: a city's nats-server has
/// a certificate from the city's own CA, and its clients are given that CA's file (<c>ScaleOut:NatsCaFile</c>).
/// </summary>
/// <remarks>
/// The CA's private key is never written: it signs the one server certificate and is dropped, so nothing else can be
/// issued under it. The server's key is written with mode 0600 from the start (not chmod-ed after), since the folder
/// may be readable by others.
/// </remarks>
public static class NatsCertificates
{
    /// <summary>Writes <c>nats-ca.pem</c>, <c>nats-server.pem</c> and <c>nats-server-key.pem</c> (0600) into <paramref name="folder"/>, valid from a minute before now for <paramref name="validity"/>.</summary>
    public static NatsTlsFiles Write(string folder, IPAddress address, TimeSpan validity, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(time);
        // A minute back: a client whose clock is a little behind still finds the certificate valid.
        var notBefore = time.GetUtcNow().AddMinutes(-1);
        var notAfter = notBefore + validity;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=CityWatch NATS CA (throwaway)", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter.AddMinutes(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=" + address, serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(address);
        serverRequest.CertificateExtensions.Add(names.Build(critical: false));
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var server = serverRequest.Create(ca, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));

        var files = new NatsTlsFiles(Path.Combine(folder, "nats-ca.pem"), Path.Combine(folder, "nats-server.pem"), Path.Combine(folder, "nats-server-key.pem"));
        File.WriteAllText(files.CaFile, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(files.CertFile, server.ExportCertificatePem() + "\n");
        var keyOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            keyOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var key = new FileStream(files.KeyFile, keyOptions))
        {
            key.Write(Encoding.ASCII.GetBytes(serverKey.ExportPkcs8PrivateKeyPem() + "\n"));
        }

        return files;
    }
}
