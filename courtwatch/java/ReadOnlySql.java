package courtwatch;

import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.trees.TreeNode;
import scala.Function1;
import scala.collection.Iterator;
import scala.runtime.BoxedUnit;

/**
 * The SQL endpoint answers questions and changes nothing (spark.sql.extensions of
 * `courtwatch sql-server` only; the pipeline's own sessions do not load it).
 *
 * A statement is refused when it is a command other than SHOW, DESCRIBE or USE
 * (no CREATE TABLE over a path, no CREATE FUNCTION from a jar, no INSERT, no SET:
 * a SET could turn spark.sql.runSQLOnFiles back on), or when it calls Java by
 * reflection (reflect, java_method, try_reflect), which would run as the server's account.
 * The server registers its tables first and then calls seal(), before any user connects.
 */
public class ReadOnlySql implements Function1<SparkSessionExtensions, BoxedUnit> {
    private static final String[] ALLOWED_COMMANDS = {"Show", "Describe", "SetCatalogAndNamespace", "SetNamespace"};
    private static volatile boolean sealed = false;

    /** From now on every statement is checked (courtwatch/sql_endpoint.py calls it before serving). */
    public static void seal() {
        sealed = true;
    }

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectCheckRule(session -> (Function1<LogicalPlan, BoxedUnit>) plan -> {
            if (sealed) {
                check(plan);
            }
            return BoxedUnit.UNIT;
        });
        return BoxedUnit.UNIT;
    }

    private static void check(TreeNode<?> node) {
        String name = node.getClass().getSimpleName();
        if (node instanceof Command && !allowedCommand(name)) {
            throw new SecurityException("courtwatch SQL endpoint is read-only: " + name + " is not allowed");
        }
        if (name.equals("CallMethodViaReflection") || name.equals("TryReflect")) {
            throw new SecurityException("courtwatch SQL endpoint: reflect/java_method are not allowed");
        }
        if (node instanceof LogicalPlan) {
            Iterator<Expression> expressions = ((LogicalPlan) node).expressions().iterator();
            while (expressions.hasNext()) {
                check(expressions.next());
            }
            Iterator<LogicalPlan> subqueries = ((LogicalPlan) node).subqueries().iterator();
            while (subqueries.hasNext()) {
                check(subqueries.next());
            }
        }
        Iterator<?> children = node.children().iterator();
        while (children.hasNext()) {
            check((TreeNode<?>) children.next());
        }
    }

    private static boolean allowedCommand(String name) {
        for (String prefix : ALLOWED_COMMANDS) {
            if (name.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }
}
