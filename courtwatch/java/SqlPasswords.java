package courtwatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.spec.KeySpec;
import java.util.Base64;
import java.util.List;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * The SQL endpoint's sign-in when no directory is configured: the Spark Thrift Server's
 * CUSTOM authentication (hive.server2.custom.authentication.class), against the
 * owner-only file courtwatch/accounts.py writes (system property courtwatch.sql.passwords).
 *
 * One line per account that may use the endpoint (the analysts, SQL Lab's service account):
 * USER:ITERATIONS:SALT:HASH, PBKDF2-HMAC-SHA256, salt and hash in base64. The file is read
 * at each sign-in, so a new or rotated account needs no restart.
 */
public class SqlPasswords implements PasswdAuthenticationProvider {
    @Override
    public void Authenticate(String user, String password) throws AuthenticationException {
        String file = System.getProperty("courtwatch.sql.passwords");
        if (file == null || user == null || password == null || password.isEmpty()) {
            throw new AuthenticationException("courtwatch SQL endpoint: user and password required");
        }
        try {
            List<String> lines = Files.readAllLines(Path.of(file));
            for (String line : lines) {
                String[] f = line.trim().split(":");
                if (f.length == 4 && f[0].equals(user) && matches(password, Integer.parseInt(f[1]),
                        Base64.getDecoder().decode(f[2]), Base64.getDecoder().decode(f[3]))) {
                    return;
                }
            }
        } catch (IOException | RuntimeException | java.security.GeneralSecurityException e) {
            throw new AuthenticationException("courtwatch SQL endpoint: cannot check the password", e);
        }
        throw new AuthenticationException("courtwatch SQL endpoint: wrong user or password");
    }

    private static boolean matches(String password, int iterations, byte[] salt, byte[] expected)
            throws java.security.GeneralSecurityException {
        KeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, expected.length * 8);
        byte[] actual = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        return MessageDigest.isEqual(actual, expected);  // constant time
    }
}
