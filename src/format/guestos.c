/* guestos.c - the guest table: VMX guestOS key -> vSphere guest id, CIM OS type, description.
 *
 * Why a table: the vSphere guest id (vmw:osType) is not derivable from the
 * VMX key by string rules (ubuntu-64 -> ubuntu64Guest but debian10-64 ->
 * debian10_64Guest, other-64 -> otherGuest64, windows9-64 is Windows 10,
 * windows2019srvNext-64 is Server 2022 ...). The pairs follow VMware's own
 * VMX-key -> vim-key map (open-vm-tools GUEST_OS_KEY_MAP) and the vSphere
 * VirtualMachineGuestOsIdentifier enum; keys newer than the published map
 * (windows11-64, debian12-64, almalinux-64, ...) follow the same pattern as
 * the enum value they name. See docs/ovf.md section 9.
 *
 * CIM numbers are CIM_OperatingSystem.OSType values (same section). Where
 * CIM has no entry for a guest (Windows 11, Server 2019+, Hyper-V) we write
 * 102 "Other 64-Bit": VirtualBox then picks its OS type by matching the
 * description text, so those descriptions carry the phrase it looks for
 * (e.g. "Windows 2019"). Non-Linux guests without a CIM number of their own
 * get the closest generic one (Linux 36/101, Other 1/102).
 */
#include "ovatool/ovf.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct guest_row {
    const char *vmx;   /* VMX guestOS key, in VMware's spelling (matched case-insensitively) */
    const char *vim;   /* vSphere guest id for vmw:osType */
    int cim;           /* OperatingSystemSection ovf:id */
    const char *desc;  /* OperatingSystemSection Description */
} guest_row;

/* CIM_OperatingSystem.OSType values used below. */
enum {
    CIM_OTHER = 1, CIM_MACOS = 2, CIM_OS2 = 12, CIM_MSDOS = 14, CIM_WIN3X = 15, CIM_WIN95 = 16,
    CIM_WIN98 = 17, CIM_WINNT = 18, CIM_NETWARE = 21, CIM_UNIXWARE = 25, CIM_OPENSERVER = 26,
    CIM_SOLARIS = 29, CIM_LINUX = 36, CIM_FREEBSD = 42, CIM_WIN2000 = 58, CIM_WINME = 63,
    CIM_WINXP = 67, CIM_WIN2003 = 69, CIM_WIN2003_64 = 70, CIM_WINXP_64 = 71, CIM_VISTA = 73,
    CIM_VISTA_64 = 74, CIM_WIN2008 = 76, CIM_WIN2008_64 = 77, CIM_FREEBSD_64 = 78, CIM_RHEL = 79,
    CIM_RHEL_64 = 80, CIM_SOLARIS_64 = 81, CIM_SUSE = 82, CIM_SUSE_64 = 83, CIM_SLES = 84,
    CIM_SLES_64 = 85, CIM_NOVELL_OES = 86, CIM_NOVELL_NLD = 87, CIM_SUN_JDS = 88, CIM_MANDRIVA = 89,
    CIM_MANDRIVA_64 = 90, CIM_TURBOLINUX = 91, CIM_TURBOLINUX_64 = 92, CIM_UBUNTU = 93,
    CIM_UBUNTU_64 = 94, CIM_DEBIAN = 95, CIM_DEBIAN_64 = 96, CIM_LINUX24 = 97, CIM_LINUX24_64 = 98,
    CIM_LINUX26 = 99, CIM_LINUX26_64 = 100, CIM_LINUX_64 = 101, CIM_OTHER_64 = 102,
    CIM_WIN2008R2 = 103, CIM_ESXI = 104, CIM_WIN7 = 105, CIM_CENTOS = 106, CIM_CENTOS_64 = 107,
    CIM_ORACLE = 108, CIM_ORACLE_64 = 109, CIM_ECOMSTATION = 110, CIM_WIN2012 = 112,
    CIM_WIN8 = 113, CIM_WIN8_64 = 114, CIM_WIN2016 = 118, CIM_WIN10 = 119, CIM_WIN10_64 = 120
};

static const guest_row guest_table[] = {
    /* --- Windows --- */
    { "dos", "dosGuest", CIM_MSDOS, "MS-DOS" },
    { "win31", "win31Guest", CIM_WIN3X, "Microsoft Windows 3.1" },
    { "win95", "win95Guest", CIM_WIN95, "Microsoft Windows 95" },
    { "win98", "win98Guest", CIM_WIN98, "Microsoft Windows 98" },
    { "winMe", "winMeGuest", CIM_WINME, "Microsoft Windows Me" },
    { "winNT", "winNTGuest", CIM_WINNT, "Microsoft Windows NT" },
    { "nt4", "winNTGuest", CIM_WINNT, "Microsoft Windows NT" },
    { "win2000", "win2000ProGuest", CIM_WIN2000, "Microsoft Windows 2000 Professional" },
    { "win2000Pro", "win2000ProGuest", CIM_WIN2000, "Microsoft Windows 2000 Professional" },
    { "win2000Serv", "win2000ServGuest", CIM_WIN2000, "Microsoft Windows 2000 Server" },
    { "win2000AdvServ", "win2000AdvServGuest", CIM_WIN2000, "Microsoft Windows 2000 Advanced Server" },
    { "winXPHome", "winXPHomeGuest", CIM_WINXP, "Microsoft Windows XP Home Edition" },
    { "whistler", "winXPHomeGuest", CIM_WINXP, "Microsoft Windows XP Home Edition" },
    { "winXPPro", "winXPProGuest", CIM_WINXP, "Microsoft Windows XP Professional (32-bit)" },
    { "winXPPro-64", "winXPPro64Guest", CIM_WINXP_64, "Microsoft Windows XP Professional (64-bit)" },
    { "winNetWeb", "winNetWebGuest", CIM_WIN2003, "Microsoft Windows Server 2003 Web Edition (32-bit)" },
    { "winNetStandard", "winNetStandardGuest", CIM_WIN2003, "Microsoft Windows Server 2003 Standard (32-bit)" },
    { "winNetEnterprise", "winNetEnterpriseGuest", CIM_WIN2003,
      "Microsoft Windows Server 2003 Enterprise (32-bit)" },
    { "winNetDatacenter", "winNetDatacenterGuest", CIM_WIN2003,
      "Microsoft Windows Server 2003 Datacenter (32-bit)" },
    { "winNetBusiness", "winNetBusinessGuest", CIM_WIN2003, "Microsoft Windows Small Business Server 2003" },
    { "winNetStandard-64", "winNetStandard64Guest", CIM_WIN2003_64,
      "Microsoft Windows Server 2003 Standard (64-bit)" },
    { "winNetEnterprise-64", "winNetEnterprise64Guest", CIM_WIN2003_64,
      "Microsoft Windows Server 2003 Enterprise (64-bit)" },
    { "winNetDatacenter-64", "winNetDatacenter64Guest", CIM_WIN2003_64,
      "Microsoft Windows Server 2003 Datacenter (64-bit)" },
    { "longhorn", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "longhorn-64", "winLonghorn64Guest", CIM_WIN2008_64, "Microsoft Windows Server 2008 (64-bit)" },
    { "winvista", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winvista-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },
    { "windows7", "windows7Guest", CIM_WIN7, "Microsoft Windows 7 (32-bit)" },
    /* CIM has a single Windows 7 value, no 64-bit one */
    { "windows7-64", "windows7_64Guest", CIM_WIN7, "Microsoft Windows 7 (64-bit)" },
    { "windows7srv-64", "windows7Server64Guest", CIM_WIN2008R2, "Microsoft Windows Server 2008 R2 (64-bit)" },
    { "windows8", "windows8Guest", CIM_WIN8, "Microsoft Windows 8 (32-bit)" },
    { "windows8-64", "windows8_64Guest", CIM_WIN8_64, "Microsoft Windows 8 (64-bit)" },
    { "windows8srv-64", "windows8Server64Guest", CIM_WIN2012, "Microsoft Windows Server 2012 (64-bit)" },
    /* "windows9" is VMware's key for Windows 10 */
    { "windows9", "windows9Guest", CIM_WIN10, "Microsoft Windows 10 (32-bit)" },
    { "windows9-64", "windows9_64Guest", CIM_WIN10_64, "Microsoft Windows 10 (64-bit)" },
    { "windows9srv-64", "windows9Server64Guest", CIM_WIN2016, "Microsoft Windows Server 2016 (64-bit)" },
    /* VirtualBox matches "Windows 2019" in the description when the id is 102 */
    { "windows2019srv-64", "windows2019srv_64Guest", CIM_OTHER_64, "Microsoft Windows 2019 Server (64-bit)" },
    /* VMware names each new Server release after the previous one plus "Next" */
    { "windows2019srvNext-64", "windows2019srvNext_64Guest", CIM_OTHER_64,
      "Microsoft Windows Server 2022 (64-bit)" },
    { "windows2022srvNext-64", "windows2022srvNext_64Guest", CIM_OTHER_64,
      "Microsoft Windows Server 2025 (64-bit)" },
    { "windows11-64", "windows11_64Guest", CIM_OTHER_64, "Microsoft Windows 11 (64-bit)" },
    { "windows12-64", "windows12_64Guest", CIM_OTHER_64, "Microsoft Windows 12 (64-bit)" },
    { "winHyperV", "windowsHyperVGuest", CIM_OTHER_64, "Microsoft Hyper-V Server (64-bit)" },
    /* edition-specific keys older Workstation releases wrote; all map to the generic ids */
    { "winServer2008Cluster-32", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008Datacenter-32", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008DatacenterCore-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008Enterprise-32", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008EnterpriseCore-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008EnterpriseItanium-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008SmallBusiness-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008SmallBusinessPremium-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008Standard-32", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008StandardCore-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008MediumManagement-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008MediumMessaging-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008MediumSecurity-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008ForSmallBusiness-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008StorageEnterprise-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008StorageExpress-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008StorageStandard-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008StorageWorkgroup-32", "winLonghornGuest", CIM_WIN2008,
      "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008Web-32", "winLonghornGuest", CIM_WIN2008, "Microsoft Windows Server 2008 (32-bit)" },
    { "winServer2008Cluster-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008Datacenter-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008DatacenterCore-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008Enterprise-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008EnterpriseCore-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008EnterpriseItanium-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008SmallBusiness-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008SmallBusinessPremium-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008Standard-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008StandardCore-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008MediumManagement-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008MediumMessaging-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008MediumSecurity-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008ForSmallBusiness-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008StorageEnterprise-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008StorageExpress-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008StorageStandard-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008StorageWorkgroup-64", "winLonghorn64Guest", CIM_WIN2008_64,
      "Microsoft Windows Server 2008 (64-bit)" },
    { "winServer2008Web-64", "winLonghorn64Guest", CIM_WIN2008_64, "Microsoft Windows Server 2008 (64-bit)" },
    { "winVistaUltimate-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaHomePremium-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaHomeBasic-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaEnterprise-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaBusiness-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaStarter-32", "winVistaGuest", CIM_VISTA, "Microsoft Windows Vista (32-bit)" },
    { "winVistaUltimate-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },
    { "winVistaHomePremium-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },
    { "winVistaHomeBasic-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },
    { "winVistaEnterprise-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },
    { "winVistaBusiness-64", "winVista64Guest", CIM_VISTA_64, "Microsoft Windows Vista (64-bit)" },

    /* --- Red Hat family --- */
    { "redhat", "redhatGuest", CIM_RHEL, "Red Hat Linux 2.1" },
    { "rhel2", "rhel2Guest", CIM_RHEL, "Red Hat Enterprise Linux 2.1" },
    { "rhel3", "rhel3Guest", CIM_RHEL, "Red Hat Enterprise Linux 3 (32-bit)" },
    { "rhel3-64", "rhel3_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 3 (64-bit)" },
    { "rhel4", "rhel4Guest", CIM_RHEL, "Red Hat Enterprise Linux 4 (32-bit)" },
    { "rhel4-64", "rhel4_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 4 (64-bit)" },
    { "rhel5", "rhel5Guest", CIM_RHEL, "Red Hat Enterprise Linux 5 (32-bit)" },
    { "rhel5-64", "rhel5_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 5 (64-bit)" },
    { "rhel6", "rhel6Guest", CIM_RHEL, "Red Hat Enterprise Linux 6 (32-bit)" },
    { "rhel6-64", "rhel6_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 6 (64-bit)" },
    { "rhel7", "rhel7Guest", CIM_RHEL, "Red Hat Enterprise Linux 7 (32-bit)" },
    { "rhel7-64", "rhel7_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 7 (64-bit)" },
    { "rhel8-64", "rhel8_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 8 (64-bit)" },
    { "rhel9-64", "rhel9_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 9 (64-bit)" },
    { "rhel10-64", "rhel10_64Guest", CIM_RHEL_64, "Red Hat Enterprise Linux 10 (64-bit)" },
    { "centos", "centosGuest", CIM_CENTOS, "CentOS 4/5 (32-bit)" },
    /* no underscore in this vim id */
    { "centos-64", "centos64Guest", CIM_CENTOS_64, "CentOS 4/5 (64-bit)" },
    { "centos6", "centos6Guest", CIM_CENTOS, "CentOS 6 (32-bit)" },
    { "centos6-64", "centos6_64Guest", CIM_CENTOS_64, "CentOS 6 (64-bit)" },
    { "centos7", "centos7Guest", CIM_CENTOS, "CentOS 7 (32-bit)" },
    { "centos7-64", "centos7_64Guest", CIM_CENTOS_64, "CentOS 7 (64-bit)" },
    { "centos8-64", "centos8_64Guest", CIM_CENTOS_64, "CentOS 8 (64-bit)" },
    { "centos9-64", "centos9_64Guest", CIM_CENTOS_64, "CentOS Stream 9 (64-bit)" },
    { "oraclelinux", "oracleLinuxGuest", CIM_ORACLE, "Oracle Linux 4/5 (32-bit)" },
    { "oraclelinux-64", "oracleLinux64Guest", CIM_ORACLE_64, "Oracle Linux 4/5 (64-bit)" },
    { "oraclelinux6", "oracleLinux6Guest", CIM_ORACLE, "Oracle Linux 6 (32-bit)" },
    { "oraclelinux6-64", "oracleLinux6_64Guest", CIM_ORACLE_64, "Oracle Linux 6 (64-bit)" },
    { "oraclelinux7", "oracleLinux7Guest", CIM_ORACLE, "Oracle Linux 7 (32-bit)" },
    { "oraclelinux7-64", "oracleLinux7_64Guest", CIM_ORACLE_64, "Oracle Linux 7 (64-bit)" },
    { "oraclelinux8-64", "oracleLinux8_64Guest", CIM_ORACLE_64, "Oracle Linux 8 (64-bit)" },
    { "oraclelinux9-64", "oracleLinux9_64Guest", CIM_ORACLE_64, "Oracle Linux 9 (64-bit)" },
    { "oraclelinux10-64", "oracleLinux10_64Guest", CIM_ORACLE_64, "Oracle Linux 10 (64-bit)" },
    /* RHEL rebuilds without a CIM number of their own */
    { "almalinux-64", "almalinux_64Guest", CIM_LINUX_64, "AlmaLinux (64-bit)" },
    { "rockylinux-64", "rockylinux_64Guest", CIM_LINUX_64, "Rocky Linux (64-bit)" },
    { "miraclelinux-64", "miraclelinux_64Guest", CIM_LINUX_64, "MIRACLE LINUX (64-bit)" },
    { "fusionos-64", "fusionos_64Guest", CIM_LINUX_64, "FusionOS (64-bit)" },
    { "prolinux-64", "prolinux_64Guest", CIM_LINUX_64, "ProLinux (64-bit)" },
    { "kylinlinux-64", "kylinlinux_64Guest", CIM_LINUX_64, "Kylin Linux Advanced Server (64-bit)" },
    { "asianux3", "asianux3Guest", CIM_LINUX, "Asianux Server 3 (32-bit)" },
    { "asianux3-64", "asianux3_64Guest", CIM_LINUX_64, "Asianux Server 3 (64-bit)" },
    { "asianux4", "asianux4Guest", CIM_LINUX, "Asianux Server 4 (32-bit)" },
    { "asianux4-64", "asianux4_64Guest", CIM_LINUX_64, "Asianux Server 4 (64-bit)" },
    { "asianux5-64", "asianux5_64Guest", CIM_LINUX_64, "Asianux Server 5 (64-bit)" },
    { "asianux7-64", "asianux7_64Guest", CIM_LINUX_64, "Asianux Server 7 (64-bit)" },
    { "asianux8-64", "asianux8_64Guest", CIM_LINUX_64, "Asianux Server 8 (64-bit)" },
    { "asianux9-64", "asianux9_64Guest", CIM_LINUX_64, "Asianux Server 9 (64-bit)" },
    { "fedora", "fedoraGuest", CIM_LINUX, "Fedora Linux (32-bit)" },
    { "fedora-64", "fedora64Guest", CIM_LINUX_64, "Fedora Linux (64-bit)" },
    { "amazonlinux2-64", "amazonlinux2_64Guest", CIM_LINUX_64, "Amazon Linux 2 (64-bit)" },
    { "amazonlinux3-64", "amazonlinux3_64Guest", CIM_LINUX_64, "Amazon Linux 2023 (64-bit)" },

    /* --- SUSE / Novell --- */
    { "suse", "suseGuest", CIM_SUSE, "SUSE Linux (32-bit)" },
    { "suse-64", "suse64Guest", CIM_SUSE_64, "SUSE Linux (64-bit)" },
    { "sles", "slesGuest", CIM_SLES, "SUSE Linux Enterprise Server 9 (32-bit)" },
    { "sles-64", "sles64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 9 (64-bit)" },
    { "sles10", "sles10Guest", CIM_SLES, "SUSE Linux Enterprise Server 10 (32-bit)" },
    { "sles10-64", "sles10_64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 10 (64-bit)" },
    { "sles11", "sles11Guest", CIM_SLES, "SUSE Linux Enterprise Server 11 (32-bit)" },
    { "sles11-64", "sles11_64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 11 (64-bit)" },
    { "sles12", "sles12Guest", CIM_SLES, "SUSE Linux Enterprise Server 12 (32-bit)" },
    { "sles12-64", "sles12_64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 12 (64-bit)" },
    { "sles15-64", "sles15_64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 15 (64-bit)" },
    { "sles16-64", "sles16_64Guest", CIM_SLES_64, "SUSE Linux Enterprise Server 16 (64-bit)" },
    { "opensuse", "opensuseGuest", CIM_SUSE, "openSUSE (32-bit)" },
    { "opensuse-64", "opensuse64Guest", CIM_SUSE_64, "openSUSE (64-bit)" },
    { "nld9", "nld9Guest", CIM_NOVELL_NLD, "Novell Linux Desktop 9" },
    { "oes", "oesGuest", CIM_NOVELL_OES, "Novell Open Enterprise Server" },
    { "sjds", "sjdsGuest", CIM_SUN_JDS, "Sun Java Desktop System" },

    /* --- Debian family --- */
    { "ubuntu", "ubuntuGuest", CIM_UBUNTU, "Ubuntu Linux (32-bit)" },
    /* no underscore in this vim id */
    { "ubuntu-64", "ubuntu64Guest", CIM_UBUNTU_64, "Ubuntu Linux (64-bit)" },
    { "debian4", "debian4Guest", CIM_DEBIAN, "Debian GNU/Linux 4 (32-bit)" },
    { "debian4-64", "debian4_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 4 (64-bit)" },
    { "debian5", "debian5Guest", CIM_DEBIAN, "Debian GNU/Linux 5 (32-bit)" },
    { "debian5-64", "debian5_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 5 (64-bit)" },
    { "debian6", "debian6Guest", CIM_DEBIAN, "Debian GNU/Linux 6 (32-bit)" },
    { "debian6-64", "debian6_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 6 (64-bit)" },
    { "debian7", "debian7Guest", CIM_DEBIAN, "Debian GNU/Linux 7 (32-bit)" },
    { "debian7-64", "debian7_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 7 (64-bit)" },
    { "debian8", "debian8Guest", CIM_DEBIAN, "Debian GNU/Linux 8 (32-bit)" },
    { "debian8-64", "debian8_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 8 (64-bit)" },
    { "debian9", "debian9Guest", CIM_DEBIAN, "Debian GNU/Linux 9 (32-bit)" },
    { "debian9-64", "debian9_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 9 (64-bit)" },
    { "debian10", "debian10Guest", CIM_DEBIAN, "Debian GNU/Linux 10 (32-bit)" },
    { "debian10-64", "debian10_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 10 (64-bit)" },
    { "debian11", "debian11Guest", CIM_DEBIAN, "Debian GNU/Linux 11 (32-bit)" },
    { "debian11-64", "debian11_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 11 (64-bit)" },
    { "debian12", "debian12Guest", CIM_DEBIAN, "Debian GNU/Linux 12 (32-bit)" },
    { "debian12-64", "debian12_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 12 (64-bit)" },
    { "debian13", "debian13Guest", CIM_DEBIAN, "Debian GNU/Linux 13 (32-bit)" },
    { "debian13-64", "debian13_64Guest", CIM_DEBIAN_64, "Debian GNU/Linux 13 (64-bit)" },
    { "pardus-64", "pardus_64Guest", CIM_LINUX_64, "Pardus (64-bit)" },

    /* --- other Linux distributions --- */
    { "mandrake", "mandrakeGuest", CIM_MANDRIVA, "Mandrake Linux" },
    { "mandrake-64", "mandriva64Guest", CIM_MANDRIVA_64, "Mandriva Linux (64-bit)" },
    { "mandriva", "mandrivaGuest", CIM_MANDRIVA, "Mandriva Linux (32-bit)" },
    { "mandriva-64", "mandriva64Guest", CIM_MANDRIVA_64, "Mandriva Linux (64-bit)" },
    { "turbolinux", "turboLinuxGuest", CIM_TURBOLINUX, "Turbolinux (32-bit)" },
    { "turbolinux-64", "turboLinux64Guest", CIM_TURBOLINUX_64, "Turbolinux (64-bit)" },
    { "coreos-64", "coreos64Guest", CIM_LINUX_64, "CoreOS Linux (64-bit)" },
    { "flatcar-64", "flatcar_64Guest", CIM_LINUX_64, "Flatcar Container Linux (64-bit)" },
    { "vmware-photon-64", "vmwarePhoton64Guest", CIM_LINUX_64, "VMware Photon OS (64-bit)" },
    /* "Linux 2.4" / "Linux 2.6" are also the VirtualBox description patterns */
    { "other24xlinux", "other24xLinuxGuest", CIM_LINUX24, "Other Linux 2.4.x kernel (32-bit)" },
    { "other24xlinux-64", "other24xLinux64Guest", CIM_LINUX24_64, "Other Linux 2.4.x kernel (64-bit)" },
    { "other26xlinux", "other26xLinuxGuest", CIM_LINUX26, "Other Linux 2.6.x kernel (32-bit)" },
    { "other26xlinux-64", "other26xLinux64Guest", CIM_LINUX26_64, "Other Linux 2.6.x kernel (64-bit)" },
    { "other3xlinux", "other3xLinuxGuest", CIM_LINUX, "Other Linux 3.x kernel (32-bit)" },
    { "other3xlinux-64", "other3xLinux64Guest", CIM_LINUX_64, "Other Linux 3.x kernel (64-bit)" },
    { "other4xlinux", "other4xLinuxGuest", CIM_LINUX, "Other Linux 4.x kernel (32-bit)" },
    { "other4xlinux-64", "other4xLinux64Guest", CIM_LINUX_64, "Other Linux 4.x kernel (64-bit)" },
    { "other5xlinux", "other5xLinuxGuest", CIM_LINUX, "Other Linux 5.x kernel (32-bit)" },
    { "other5xlinux-64", "other5xLinux64Guest", CIM_LINUX_64, "Other Linux 5.x kernel (64-bit)" },
    { "other6xlinux", "other6xLinuxGuest", CIM_LINUX, "Other Linux 6.x kernel (32-bit)" },
    { "other6xlinux-64", "other6xLinux64Guest", CIM_LINUX_64, "Other Linux 6.x kernel (64-bit)" },
    { "other7xlinux", "other7xLinuxGuest", CIM_LINUX, "Other Linux 7.x kernel (32-bit)" },
    { "other7xlinux-64", "other7xLinux64Guest", CIM_LINUX_64, "Other Linux 7.x kernel (64-bit)" },
    { "linux", "otherLinuxGuest", CIM_LINUX, "Other Linux (32-bit)" },
    { "otherlinux", "otherLinuxGuest", CIM_LINUX, "Other Linux (32-bit)" },
    { "otherlinux-64", "otherLinux64Guest", CIM_LINUX_64, "Other Linux (64-bit)" },
    { "genericlinux", "genericLinuxGuest", CIM_LINUX, "Other Linux" },

    /* --- Unix --- */
    { "freeBSD", "freebsdGuest", CIM_FREEBSD, "FreeBSD (32-bit)" },
    { "freeBSD-64", "freebsd64Guest", CIM_FREEBSD_64, "FreeBSD (64-bit)" },
    { "freeBSD11", "freebsd11Guest", CIM_FREEBSD, "FreeBSD 11 (32-bit)" },
    { "freeBSD11-64", "freebsd11_64Guest", CIM_FREEBSD_64, "FreeBSD 11 (64-bit)" },
    { "freeBSD12", "freebsd12Guest", CIM_FREEBSD, "FreeBSD 12 (32-bit)" },
    { "freeBSD12-64", "freebsd12_64Guest", CIM_FREEBSD_64, "FreeBSD 12 (64-bit)" },
    { "freeBSD13", "freebsd13Guest", CIM_FREEBSD, "FreeBSD 13 (32-bit)" },
    { "freeBSD13-64", "freebsd13_64Guest", CIM_FREEBSD_64, "FreeBSD 13 (64-bit)" },
    { "freeBSD14", "freebsd14Guest", CIM_FREEBSD, "FreeBSD 14 (32-bit)" },
    { "freeBSD14-64", "freebsd14_64Guest", CIM_FREEBSD_64, "FreeBSD 14 (64-bit)" },
    { "freeBSD15", "freebsd15Guest", CIM_FREEBSD, "FreeBSD 15 (32-bit)" },
    { "freeBSD15-64", "freebsd15_64Guest", CIM_FREEBSD_64, "FreeBSD 15 (64-bit)" },
    { "solaris6", "solaris6Guest", CIM_SOLARIS, "Sun Solaris 6" },
    { "solaris7", "solaris7Guest", CIM_SOLARIS, "Sun Solaris 7" },
    { "solaris8", "solaris8Guest", CIM_SOLARIS, "Sun Solaris 8" },
    { "solaris9", "solaris9Guest", CIM_SOLARIS, "Sun Solaris 9" },
    { "solaris10", "solaris10Guest", CIM_SOLARIS, "Oracle Solaris 10 (32-bit)" },
    { "solaris10-64", "solaris10_64Guest", CIM_SOLARIS_64, "Oracle Solaris 10 (64-bit)" },
    { "solaris11-64", "solaris11_64Guest", CIM_SOLARIS_64, "Oracle Solaris 11 (64-bit)" },
    { "openserver5", "openServer5Guest", CIM_OPENSERVER, "SCO OpenServer 5" },
    { "openserver6", "openServer6Guest", CIM_OPENSERVER, "SCO OpenServer 6" },
    { "unixware7", "unixWare7Guest", CIM_UNIXWARE, "SCO UnixWare 7" },

    /* --- Apple --- */
    { "darwin", "darwinGuest", CIM_MACOS, "Apple Mac OS X 10.5 (32-bit)" },
    { "darwin-64", "darwin64Guest", CIM_MACOS, "Apple Mac OS X 10.5 (64-bit)" },
    { "darwin10", "darwin10Guest", CIM_MACOS, "Apple Mac OS X 10.6 (32-bit)" },
    { "darwin10-64", "darwin10_64Guest", CIM_MACOS, "Apple Mac OS X 10.6 (64-bit)" },
    { "darwin11", "darwin11Guest", CIM_MACOS, "Apple Mac OS X 10.7 (32-bit)" },
    { "darwin11-64", "darwin11_64Guest", CIM_MACOS, "Apple Mac OS X 10.7 (64-bit)" },
    { "darwin12-64", "darwin12_64Guest", CIM_MACOS, "Apple OS X 10.8 (64-bit)" },
    { "darwin13-64", "darwin13_64Guest", CIM_MACOS, "Apple OS X 10.9 (64-bit)" },
    { "darwin14-64", "darwin14_64Guest", CIM_MACOS, "Apple OS X 10.10 (64-bit)" },
    { "darwin15-64", "darwin15_64Guest", CIM_MACOS, "Apple OS X 10.11 (64-bit)" },
    { "darwin16-64", "darwin16_64Guest", CIM_MACOS, "Apple macOS 10.12 (64-bit)" },
    { "darwin17-64", "darwin17_64Guest", CIM_MACOS, "Apple macOS 10.13 (64-bit)" },
    { "darwin18-64", "darwin18_64Guest", CIM_MACOS, "Apple macOS 10.14 (64-bit)" },
    { "darwin19-64", "darwin19_64Guest", CIM_MACOS, "Apple macOS 10.15 (64-bit)" },
    { "darwin20-64", "darwin20_64Guest", CIM_MACOS, "Apple macOS 11 (64-bit)" },
    { "darwin21-64", "darwin21_64Guest", CIM_MACOS, "Apple macOS 12 (64-bit)" },
    { "darwin22-64", "darwin22_64Guest", CIM_MACOS, "Apple macOS 13 (64-bit)" },
    { "darwin23-64", "darwin23_64Guest", CIM_MACOS, "Apple macOS 14 (64-bit)" },

    /* --- VMware --- */
    { "vmkernel", "vmkernelGuest", CIM_ESXI, "VMware ESX 4.x" },
    { "vmkernel5", "vmkernel5Guest", CIM_ESXI, "VMware ESXi 5.x" },
    { "vmkernel6", "vmkernel6Guest", CIM_ESXI, "VMware ESXi 6.0" },
    { "vmkernel65", "vmkernel65Guest", CIM_ESXI, "VMware ESXi 6.5 / 6.7" },
    { "vmkernel7", "vmkernel7Guest", CIM_ESXI, "VMware ESXi 7.x" },
    { "vmkernel8", "vmkernel8Guest", CIM_ESXI, "VMware ESXi 8.x" },
    { "vmkernel9", "vmkernel9Guest", CIM_ESXI, "VMware ESXi 9.x" },
    { "CRXPod1-64", "crxPod1Guest", CIM_OTHER_64, "VMware CRX Pod 1 (64-bit)" },
    { "CRXSys1-64", "crxSys1Guest", CIM_OTHER_64, "VMware CRX System 1 (64-bit)" },

    /* --- other --- */
    { "netware4", "netware4Guest", CIM_NETWARE, "Novell NetWare 4" },
    { "netware5", "netware5Guest", CIM_NETWARE, "Novell NetWare 5.1" },
    { "netware6", "netware6Guest", CIM_NETWARE, "Novell NetWare 6.x" },
    { "os2", "os2Guest", CIM_OS2, "IBM OS/2" },
    { "os2experimental", "os2Guest", CIM_OS2, "IBM OS/2" },
    { "eComStation", "eComStationGuest", CIM_ECOMSTATION, "Serenity Systems eComStation 1" },
    { "eComStation2", "eComStation2Guest", CIM_ECOMSTATION, "Serenity Systems eComStation 2" },
    /* note the suffix order: otherGuest64, not other64Guest */
    { "other", "otherGuest", CIM_OTHER, "Other" },
    { "other-64", "otherGuest64", CIM_OTHER_64, "Other (64-bit)" },
};

/* ASCII-only case folding: VMX keys are ASCII, and the C locale's
 * strcasecmp would make the result depend on the caller's locale. */
static int ascii_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = ascii_lower((unsigned char)*a), cb = ascii_lower((unsigned char)*b);
        if (ca != cb || ca == '\0')
            return ca - cb;
    }
}

/* True when s ends in "-64" (any case is the same: digits and a dash). */
static bool ends_in_64(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, "-64") == 0;
}

void ova_guest_lookup(const char *guest_os, const char **vim_id, int *cim_id, const char **desc)
{
    const char *vim = "otherGuest", *text = "Other";
    int cim = CIM_OTHER;
    bool found = false;

    if (guest_os != NULL) {
        for (size_t i = 0; i < sizeof guest_table / sizeof guest_table[0]; i++) {
            if (ascii_casecmp(guest_os, guest_table[i].vmx) == 0) {
                vim = guest_table[i].vim;
                cim = guest_table[i].cim;
                text = guest_table[i].desc;
                found = true;
                break;
            }
        }
        /* An unknown 64-bit guest must still be declared 64-bit, or ESXi
         * creates a VM that cannot boot it. */
        if (!found && ends_in_64(guest_os)) {
            vim = "otherGuest64";
            cim = CIM_OTHER_64;
            text = "Other (64-bit)";
        }
    }
    if (vim_id != NULL)
        *vim_id = vim;
    if (cim_id != NULL)
        *cim_id = cim;
    if (desc != NULL)
        *desc = text;
}

/* The inverse, for import: the first row whose vSphere id matches and,
 * among those, one whose CIM id and description match too, so that a
 * descriptor ova_guest_lookup() wrote gives back a key that writes it again
 * (several keys share a vSphere id: winNT and nt4). Without a vSphere id
 * (other producers write only the CIM id), the first row of that CIM id,
 * again preferring the description. */
const char *ova_guest_vmx_key(const char *vim_id, int cim_id, const char *desc)
{
    const guest_row *best = NULL;
    for (size_t i = 0; i < sizeof guest_table / sizeof guest_table[0]; i++) {
        const guest_row *r = &guest_table[i];
        bool id_match = vim_id != NULL ? ascii_casecmp(vim_id, r->vim) == 0 : (cim_id >= 0 && r->cim == cim_id);
        if (!id_match)
            continue;
        if (r->cim == cim_id && desc != NULL && strcmp(desc, r->desc) == 0)
            return r->vmx;
        if (best == NULL)
            best = r;
    }
    return best != NULL ? best->vmx : NULL;
}
