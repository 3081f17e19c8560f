// pgjdbc in pgask's client matrix (internal/clients): Statement, PreparedStatement run past
// prepareThreshold (so the driver switches to a named server-side statement), DatabaseMetaData
// catalog calls, a transaction, COPY through CopyManager, and an error the session survives.
//
// Connects to pgask at $PGASK_HOST:$PGASK_PORT (database $PGASK_DB, user $PGASK_USER), runs
// every case of $PGASK_CASES (a JSON list of {"id", "sql"}) and prints one JSON line per result.

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.postgresql.PGConnection;
import org.postgresql.util.PSQLException;

public class Matrix {
    interface Rows {
        List<List<String>> get() throws Exception;
    }

    static String json(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static void emit(String api, String id, Rows fn) {
        StringBuilder out = new StringBuilder("{\"api\":" + json(api) + ",\"case\":" + json(id));
        try {
            List<List<String>> rows = fn.get();
            out.append(",\"rows\":[");
            for (int i = 0; i < rows.size(); i++) {
                if (i > 0) out.append(',');
                out.append('[');
                List<String> r = rows.get(i);
                for (int j = 0; j < r.size(); j++) {
                    if (j > 0) out.append(',');
                    out.append(json(r.get(j)));
                }
                out.append(']');
            }
            out.append(']');
        } catch (Exception e) {
            out.append(",\"error\":" + json(e.getMessage() == null ? e.toString() : e.getMessage().replaceAll("\\s+", " ")));
            if (e instanceof SQLException) {
                out.append(",\"sqlstate\":" + json(((SQLException) e).getSQLState()));
            }
            if (e instanceof PSQLException && ((PSQLException) e).getServerErrorMessage() != null) {
                out.append(",\"hint\":" + json(((PSQLException) e).getServerErrorMessage().getHint()));
            }
        }
        System.out.println(out.append('}'));
    }

    static List<List<String>> rows(ResultSet rs) throws SQLException {
        List<List<String>> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<String> r = new ArrayList<>();
            for (int i = 1; i <= n; i++) r.add(rs.getString(i));
            out.add(r);
        }
        rs.close();
        return out;
    }

    static List<List<String>> column(ResultSet rs, String name) throws SQLException {
        List<List<String>> out = new ArrayList<>();
        while (rs.next()) out.add(List.of(rs.getString(name)));
        rs.close();
        return out;
    }

    // The cases file is a JSON list of {"id": …, "sql": …} written by encoding/json.
    static List<String[]> cases(String text) {
        List<String[]> out = new ArrayList<>();
        Pattern p = Pattern.compile("\\{\"id\":\"((?:[^\"\\\\]|\\\\.)*)\",\"sql\":\"((?:[^\"\\\\]|\\\\.)*)\"\\}");
        Matcher m = p.matcher(text);
        while (m.find()) out.add(new String[] {unjson(m.group(1)), unjson(m.group(2))});
        return out;
    }

    static String unjson(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') { b.append(c); continue; }
            char d = s.charAt(++i);
            switch (d) {
                case 'n': b.append('\n'); break;
                case 't': b.append('\t'); break;
                case 'r': b.append('\r'); break;
                case 'u': b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; break;
                default: b.append(d);
            }
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + System.getenv("PGASK_HOST") + ":" + System.getenv("PGASK_PORT") + "/"
                + System.getenv("PGASK_DB");
        List<String[]> cases = cases(Files.readString(Path.of(System.getenv("PGASK_CASES"))));
        try (Connection conn = DriverManager.getConnection(url, System.getenv("PGASK_USER"), "")) {
            DatabaseMetaData md = conn.getMetaData();
            emit("metadata", "plain/tables", () -> column(md.getTables(null, "public", "%", new String[] {"TABLE"}), "TABLE_NAME"));
            emit("metadata", "plain/columns", () -> column(md.getColumns(null, "public", "orders", "%"), "COLUMN_NAME"));
            emit("prepared", "plain/param", () -> {
                try (PreparedStatement ps = conn.prepareStatement("SELECT name FROM cities WHERE population > ? ORDER BY name")) {
                    ps.setInt(1, 300000);
                    return rows(ps.executeQuery());
                }
            });
            conn.setAutoCommit(false);
            emit("statement", "plain/tx", () -> {
                try (Statement st = conn.createStatement()) {
                    st.executeUpdate("INSERT INTO orders VALUES (100, 'Lyon', 'paid', 1.00, 0)");
                    return rows(st.executeQuery("SELECT count(*)::text FROM orders WHERE status = 'paid'"));
                }
            });
            conn.rollback();
            conn.setAutoCommit(true);
            emit("statement", "plain/after_rollback", () -> {
                try (Statement st = conn.createStatement()) {
                    return rows(st.executeQuery("SELECT count(*)::text FROM orders WHERE status = 'paid'"));
                }
            });
            emit("copy", "plain/copy", () -> {
                StringWriter w = new StringWriter();
                conn.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY (SELECT name, population FROM cities ORDER BY name) TO STDOUT", w);
                List<List<String>> out = new ArrayList<>();
                for (String line : w.toString().split("\n")) if (!line.isEmpty()) out.add(List.of(line.split("\t")));
                return out;
            });
            emit("statement", "plain/error", () -> {
                try (Statement st = conn.createStatement()) {
                    return rows(st.executeQuery("SELECT * FROM no_such_table"));
                }
            });
            emit("statement", "plain/after_error", () -> {
                try (Statement st = conn.createStatement()) {
                    return rows(st.executeQuery("SELECT 1"));
                }
            });

            for (String[] c : cases) {
                emit("statement", c[0], () -> {
                    try (Statement st = conn.createStatement()) {
                        return rows(st.executeQuery(c[1]));
                    }
                });
            }
            // Each PreparedStatement runs 6 times: from the 5th (prepareThreshold) pgjdbc uses a
            // named server-side statement. Every run must give the same rows.
            for (String[] c : cases) {
                emit("prepared", c[0], () -> {
                    try (PreparedStatement ps = conn.prepareStatement(c[1])) {
                        List<List<String>> first = null;
                        for (int run = 1; run <= 6; run++) {
                            List<List<String>> got = rows(ps.executeQuery());
                            if (first == null) first = got;
                            else if (!first.equals(got)) throw new Exception("run " + run + " gave " + got + ", run 1 gave " + first);
                        }
                        return first;
                    }
                });
            }
            // A question ending in ? through a PreparedStatement with a value set for it: pgjdbc
            // sends $1 in its place, and pgask answers with a hint.
            emit("prepared", "hint", () -> {
                try (PreparedStatement ps = conn.prepareStatement("ASK how many orders are paid?")) {
                    ps.setString(1, "x");
                    return rows(ps.executeQuery());
                }
            });
        }
    }
}
