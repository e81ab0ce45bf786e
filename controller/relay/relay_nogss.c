/*
 * GSSAPI for the static relay: no Kerberos. Debian's libssh.a is built
 * with GSSAPI and there is no static libgssapi_krb5 to link, while muster
 * never authenticates with gssapi-with-mic (it offers keys: ssh-agent and
 * files). libssh's gssapi.o is linked in only because other parts of
 * libssh name its functions, so these stand in for the library: every
 * call fails as a GSSAPI library with no mechanism would, and frees
 * nothing it was not given.
 *
 * Every GSSAPI function returns an OM_uint32 major status and takes the
 * minor status first; the rest of each signature is never read here.
 */
#include <stddef.h>
#include <stdint.h>

#define RELAY_GSS_S_FAILURE (13u << 16) /* GSS_S_FAILURE */

typedef uint32_t relay_om_uint32;

void *GSS_C_NT_HOSTBASED_SERVICE = NULL;
void *GSS_C_NT_USER_NAME = NULL;

#define RELAY_GSS_STUB(name, major)                   \
	relay_om_uint32 name(relay_om_uint32 *minor); \
	relay_om_uint32 name(relay_om_uint32 *minor)  \
	{                                             \
		if (minor != NULL)                    \
			*minor = 0;                   \
		return (major);                       \
	}

/* clang-format off */
RELAY_GSS_STUB(gss_accept_sec_context, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_acquire_cred, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_add_oid_set_member, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_create_empty_oid_set, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_display_name, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_display_status, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_get_mic, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_import_name, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_indicate_mechs, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_init_sec_context, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_inquire_cred, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_inquire_cred_by_mech, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_test_oid_set_member, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_verify_mic, RELAY_GSS_S_FAILURE)
RELAY_GSS_STUB(gss_release_buffer, 0)
RELAY_GSS_STUB(gss_release_cred, 0)
RELAY_GSS_STUB(gss_release_name, 0)
RELAY_GSS_STUB(gss_release_oid_set, 0)
/* clang-format on */
