package brokerd;

import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;

/**
 * Drives brokerd with the real Java client. Usage:
 *   ClientCheck BOOTSTRAP describe-cluster [KEY=VALUE...]
 * The KEY=VALUE pairs are client settings (security.protocol=SSL, ...).
 * Prints one line per fact ("cluster.id=...", "node=1 host:port") and exits
 * 0, or prints the exception and exits 1.
 */
public final class ClientCheck {
    private ClientCheck() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ClientCheck BOOTSTRAP COMMAND");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        try (Admin admin = Admin.create(props)) {
            switch (args[1]) {
                case "describe-cluster": {
                    DescribeClusterResult r = admin.describeCluster();
                    String id = r.clusterId().get(15, TimeUnit.SECONDS);
                    Node controller = r.controller().get(15, TimeUnit.SECONDS);
                    Collection<Node> nodes = r.nodes().get(15, TimeUnit.SECONDS);
                    System.out.println("cluster.id=" + id);
                    System.out.println("controller=" + controller.id());
                    for (Node n : nodes) {
                        System.out.println("node=" + n.id() + " " + n.host() + ":" + n.port());
                    }
                    break;
                }
                default:
                    System.err.println("unknown command " + args[1]);
                    System.exit(2);
            }
        } catch (Exception e) {
            System.out.println("error: " + e);
            System.exit(1);
        }
    }
}
