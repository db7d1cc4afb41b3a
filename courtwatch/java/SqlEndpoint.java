package courtwatch;

import io.delta.tables.DeltaTable;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.hive.thriftserver.HiveThriftServer2;

/**
 * The SQL endpoint's process: `courtwatch sql-server` prepares its settings and account
 * (courtwatch/sql_endpoint.py), then becomes this through spark-submit, so that the
 * service account runs a JVM and nothing of the operator's Python.
 *
 * Arguments: the registration file (one line per statement: LOCATION TAB STATEMENT; a
 * statement runs when LOCATION holds a Delta table), then the JDBC URL to announce.
 * The tables registered, it seals the read-only rule (ReadOnlySql) and serves.
 */
public class SqlEndpoint {
    public static void main(String[] args) throws Exception {
        SparkSession spark = SparkSession.builder().getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        int tables = 0;
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String[] f = line.split("\t", 2);
            if (f.length == 2 && DeltaTable.isDeltaTable(spark, f[0])) {
                spark.sql(f[1]);
                tables += f[1].startsWith("CREATE TABLE") ? 1 : 0;
            }
        }
        ReadOnlySql.seal();  // the tables are in: from now on, questions only
        HiveThriftServer2.startWithContext(spark.sqlContext());
        System.out.println("courtwatch SQL endpoint: " + args[1] + " (" + tables + " tables)");
        System.out.flush();
        Thread.currentThread().join();
    }
}
