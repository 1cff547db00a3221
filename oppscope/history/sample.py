"""The reproducible sample history: believable delivered partner projects whose noise the generator knows.

The app needs data on first run, and the backtests need ground truth: every row is drawn from an explicit
model (project type, segment, industry, country, scope, a latent customer size, time) plus log-normal noise
of known spread, and ``SampleHistory.truth`` keeps the noise-free medians and that spread per row. An
estimator that recovers them is learning the structure, not memorising the noise.

Everything is drawn from one ``numpy.random.Generator`` in a fixed order, vectorised per column, so the same
``(n_rows, seed)`` gives the same rows on every platform and 100,000 rows take a few seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from oppscope.history import schema
from oppscope.history.geo import COUNTRY_GEO, US_SUB_REGIONS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SampleTruth:
    """The noise-free parameters behind one generated row (what a perfect estimator would recover)."""

    opportunity_id: str
    log_arr_median: float
    arr_sigma: float
    ttl_months_median: float
    duration_months_median: float


@dataclass(frozen=True)
class SampleHistory:
    rows: list[dict[str, Any]]
    truth: list[SampleTruth]


@dataclass(frozen=True)
class _Variant:
    """One kind of project within a type: its activity label, opportunity title and scope sentence."""

    activity: str
    title: str
    main: str


@dataclass(frozen=True)
class _ProjectType:
    name: str
    base_arr: float
    unit: str
    typical_scope: float
    scope_sigma: float
    ttl_base: float
    duration_base: float
    n_services: float
    upfront_chance: float
    services: tuple[tuple[str, float], ...]
    variants: tuple[_Variant, ...]
    details: tuple[str, ...]


_EC2, _EBS, _S3, _RDS, _AURORA = "Amazon EC2", "Amazon EBS", "Amazon S3", "Amazon RDS", "Amazon Aurora"
_ELB, _DX, _BACKUP, _FSX, _CW = (
    "Elastic Load Balancing",
    "AWS Direct Connect",
    "AWS Backup",
    "Amazon FSx",
    "Amazon CloudWatch",
)
_LAMBDA, _DDB, _OPENSEARCH, _KINESIS = "AWS Lambda", "Amazon DynamoDB", "Amazon OpenSearch Service", "Amazon Kinesis"

PROJECT_TYPES: Final[tuple[_ProjectType, ...]] = (
    _ProjectType(
        "Migration", 300_000, "servers", 120, 0.9, 2.5, 6, 6.5, 0.63,
        ((_EC2, 0.36), (_EBS, 0.12), (_RDS, 0.12), (_S3, 0.06), (_ELB, 0.04), (_DX, 0.05), (_CW, 0.03),
         (_BACKUP, 0.04), (_FSX, 0.04), (_AURORA, 0.05), ("AWS Database Migration Service", 0.03),
         ("AWS Snowball", 0.02), ("AWS Transit Gateway", 0.04)),
        (
            _Variant("Lift and Shift Migration", "Data center migration to AWS",
                     "Rehost {q} servers from the on-premises data center to Amazon EC2 with AWS Application "
                     "Migration Service."),
            _Variant("Data Center Exit", "Data center exit",
                     "Exit the co-located data center before the lease ends by moving {q} servers to AWS."),
            _Variant("Windows Workload Migration", "Windows and SQL Server migration",
                     "Migrate {q} Windows servers and their SQL Server databases to AWS with license "
                     "optimisation."),
            _Variant("Database Migration", "Oracle database migration",
                     "Move the Oracle and SQL Server databases running on {q} servers to Amazon RDS and Amazon "
                     "Aurora."),
            _Variant("Mainframe Migration", "Mainframe migration",
                     "Replatform mainframe COBOL batch jobs together with {q} distributed servers onto AWS."),
        ),
        ("Workloads are mostly VMware virtual machines running RHEL and Windows Server.",
         "The estate includes Oracle, SQL Server and a few DB2 databases.",
         "Cutover is planned in three waves on a landing zone built with AWS Control Tower.",
         "The customer wants to cut hosting costs by about 30%."),
    ),
    _ProjectType(
        "Modernization", 200_000, "applications", 12, 0.7, 2.0, 8, 6.5, 0.35,
        (("Amazon ECS", 0.14), (_AURORA, 0.2), (_LAMBDA, 0.1), ("Amazon API Gateway", 0.06), (_EC2, 0.12),
         (_S3, 0.05), (_DDB, 0.08), ("Amazon CloudFront", 0.05), ("Amazon ElastiCache", 0.06),
         ("Amazon SQS", 0.03), ("Amazon EKS", 0.1)),
        (
            _Variant("Application Modernization", "Application modernization",
                     "Refactor {q} legacy .NET and Java applications into cloud-native services on AWS."),
            _Variant("Database Modernization", "Move off Oracle to Amazon Aurora",
                     "Modernize {q} applications by moving them from Oracle to Amazon Aurora PostgreSQL."),
            _Variant("Microservices Refactoring", "Monolith to microservices",
                     "Break {q} monolithic applications into microservices with managed databases and CI/CD."),
            _Variant("Windows Modernization", ".NET modernization",
                     "Port {q} .NET Framework applications to .NET 8 on Linux to remove Windows licensing."),
        ),
        ("The current stack runs on WebLogic and Oracle.",
         "Delivery pipelines will be rebuilt with AWS CodePipeline.",
         "The goal is faster releases and lower licensing cost."),
    ),
    _ProjectType(
        "Data & Analytics", 240_000, "TB", 80, 1.1, 1.5, 5, 6.5, 0.42,
        (("Amazon Redshift", 0.24), ("AWS Glue", 0.12), ("Amazon Athena", 0.06), (_S3, 0.14),
         ("Amazon EMR", 0.12), (_KINESIS, 0.08), ("Amazon QuickSight", 0.05), (_OPENSEARCH, 0.06),
         ("Amazon MSK", 0.05), (_EC2, 0.05), ("AWS Database Migration Service", 0.03)),
        (
            _Variant("Data Lake Build", "Enterprise data lake",
                     "Build the {q} TB data lake on Amazon S3 with AWS Glue and Amazon Athena."),
            _Variant("Data Warehouse Migration", "Data warehouse migration to Amazon Redshift",
                     "Migrate the {q} TB Teradata data warehouse to Amazon Redshift."),
            _Variant("Real-time Analytics", "Real-time analytics platform",
                     "Stream events into an analytics platform holding {q} TB with Amazon Kinesis and Amazon "
                     "OpenSearch Service."),
            _Variant("BI Modernization", "BI and reporting modernization",
                     "Consolidate reporting on {q} TB of data into Amazon QuickSight dashboards."),
            _Variant("Hadoop Migration", "Hadoop to Amazon EMR migration",
                     "Move the {q} TB on-premises Hadoop cluster to Amazon EMR."),
        ),
        ("Sources include SAP, Salesforce and several SQL Server databases.",
         "Data governance with AWS Lake Formation is in scope.",
         "The business wants daily KPIs instead of monthly reports."),
    ),
    _ProjectType(
        "AI/ML", 220_000, "models", 4, 0.6, 1.2, 4, 5.5, 0.14,
        (("Amazon SageMaker", 0.33), ("Amazon Bedrock", 0.2), (_S3, 0.08), (_EC2, 0.1), (_LAMBDA, 0.04),
         (_OPENSEARCH, 0.07), ("Amazon Kendra", 0.05), ("Amazon Comprehend", 0.03), ("Amazon Textract", 0.04),
         ("AWS Glue", 0.03), (_DDB, 0.03)),
        (
            _Variant("GenAI Assistant", "Generative AI assistant",
                     "Build a generative AI assistant on Amazon Bedrock grounded in internal documents, with {q} "
                     "foundation models evaluated."),
            _Variant("ML Platform", "MLOps platform on Amazon SageMaker",
                     "Stand up an MLOps platform on Amazon SageMaker for {q} production models."),
            _Variant("Demand Forecasting", "Demand forecasting with machine learning",
                     "Train and deploy {q} demand forecasting models on Amazon SageMaker."),
            _Variant("Document Intelligence", "Intelligent document processing",
                     "Automate document processing with Amazon Textract and {q} custom models."),
            _Variant("Fraud Detection", "Fraud detection models",
                     "Deploy {q} real-time fraud detection models with Amazon SageMaker."),
        ),
        ("Retrieval-augmented generation uses a vector store in Amazon OpenSearch Service.",
         "Data scientists currently work on laptops with no MLOps.",
         "A responsible AI review is required before go-live."),
    ),
    _ProjectType(
        "SAP on AWS", 850_000, "SAP users", 1500, 0.8, 4.0, 12, 7.0, 0.77,
        ((_EC2, 0.52), (_EBS, 0.12), (_FSX, 0.06), ("Amazon EFS", 0.03), (_S3, 0.04), (_BACKUP, 0.05),
         (_DX, 0.06), (_ELB, 0.02), (_CW, 0.02), ("AWS Transit Gateway", 0.03), ("AWS Systems Manager", 0.02),
         (_RDS, 0.03)),
        (
            _Variant("SAP S/4HANA Migration", "SAP S/4HANA migration to AWS",
                     "Migrate SAP ECC to SAP S/4HANA on AWS for {q} SAP users."),
            _Variant("RISE with SAP on AWS", "RISE with SAP on AWS",
                     "Move the SAP landscape serving {q} SAP users to RISE with SAP on AWS."),
            _Variant("SAP BW Migration", "SAP BW/4HANA on AWS",
                     "Rehost SAP BW and its HANA databases for {q} SAP users on memory-optimised Amazon EC2 "
                     "instances."),
        ),
        ("The landscape includes production, QA and two sandbox systems.",
         "HANA databases total about 6 TB.",
         "High availability across two Availability Zones is required."),
    ),
    _ProjectType(
        "VMware Cloud", 600_000, "VMs", 300, 0.9, 3.0, 6, 5.0, 0.8,
        (("VMware Cloud on AWS", 0.62), (_DX, 0.07), (_S3, 0.04), (_FSX, 0.07), (_EC2, 0.05), (_BACKUP, 0.04),
         ("AWS Transit Gateway", 0.03), (_ELB, 0.02), (_RDS, 0.03), (_CW, 0.03)),
        (
            _Variant("VMware Cloud Migration", "VMware Cloud on AWS migration",
                     "Migrate {q} VMs to VMware Cloud on AWS with HCX."),
            _Variant("VMware Data Center Extension", "Data center extension with VMware Cloud on AWS",
                     "Extend the on-premises vSphere estate with VMware Cloud on AWS for {q} VMs."),
            _Variant("VMware Disaster Recovery", "VMware disaster recovery on AWS",
                     "Protect {q} VMs with VMware Cloud Disaster Recovery on AWS."),
        ),
        ("vSphere 6.7 reaches end of support.",
         "The customer is reviewing VMware licensing after the Broadcom acquisition.",
         "NSX network segments must be preserved."),
    ),
    _ProjectType(
        "Storage & Backup", 100_000, "TB", 200, 1.0, 1.0, 3, 5.0, 0.42,
        ((_S3, 0.33), (_BACKUP, 0.2), (_FSX, 0.12), ("Amazon S3 Glacier", 0.1), ("Amazon EFS", 0.06),
         ("AWS Storage Gateway", 0.07), (_DX, 0.05), ("AWS DataSync", 0.03), ("AWS Snowball", 0.02),
         ("AWS Elastic Disaster Recovery", 0.04)),
        (
            _Variant("Backup Modernization", "Backup modernization with AWS Backup",
                     "Replace tape backups with AWS Backup and Amazon S3 Glacier for {q} TB."),
            _Variant("File Storage Migration", "File server migration to Amazon FSx",
                     "Move {q} TB of Windows file shares to Amazon FSx."),
            _Variant("Archive to Cloud", "Archive to Amazon S3 Glacier",
                     "Archive {q} TB of historical data to Amazon S3 Glacier Deep Archive."),
            _Variant("Disaster Recovery", "Disaster recovery on AWS",
                     "Set up disaster recovery for {q} TB of business-critical data with AWS Elastic Disaster "
                     "Recovery."),
        ),
        ("The NetApp arrays reach end of life next year.",
         "The initial data transfer is planned with AWS Snowball.",
         "Regulation requires seven years of retention."),
    ),
    _ProjectType(
        "Containers", 170_000, "microservices", 40, 0.8, 1.5, 5, 6.0, 0.28,
        (("Amazon EKS", 0.25), (_EC2, 0.2), ("Amazon ECS", 0.08), ("AWS Fargate", 0.12), ("Amazon ECR", 0.03),
         (_ELB, 0.05), (_AURORA, 0.08), (_CW, 0.04), ("Amazon ElastiCache", 0.05), (_S3, 0.03),
         ("Amazon MSK", 0.05)),
        (
            _Variant("Kubernetes Platform", "Kubernetes platform on Amazon EKS",
                     "Build a Kubernetes platform on Amazon EKS for {q} microservices."),
            _Variant("Container Migration", "Container migration to AWS",
                     "Move {q} containerised microservices from OpenShift to Amazon EKS."),
            _Variant("ECS Fargate Migration", "Serverless containers on AWS Fargate",
                     "Run {q} microservices on Amazon ECS with AWS Fargate."),
        ),
        ("GitOps with Argo CD and Helm charts.",
         "Observability with Prometheus and Grafana.",
         "Teams want self-service deployments."),
    ),
    _ProjectType(
        "Serverless Application", 60_000, "monthly active users", 200_000, 1.2, 1.0, 4, 6.0, 0.07,
        ((_LAMBDA, 0.24), ("Amazon API Gateway", 0.15), (_DDB, 0.18), (_S3, 0.07), ("Amazon CloudFront", 0.1),
         ("Amazon Cognito", 0.05), ("Amazon SQS", 0.03), ("Amazon SNS", 0.02), ("AWS Step Functions", 0.05),
         ("Amazon EventBridge", 0.03), (_AURORA, 0.07)),
        (
            _Variant("Serverless Web Application", "Serverless web application",
                     "Build a serverless web application on AWS Lambda and Amazon DynamoDB for {q} monthly "
                     "active users."),
            _Variant("API Modernization", "Serverless API platform",
                     "Expose core services as serverless APIs with Amazon API Gateway for {q} monthly active "
                     "users."),
            _Variant("Event-driven Integration", "Event-driven integration",
                     "Replace batch integrations with event-driven workflows on Amazon EventBridge for {q} "
                     "monthly active users."),
            _Variant("Mobile Backend", "Mobile app backend",
                     "Build the mobile app backend for {q} monthly active users with AWS Amplify and AWS Lambda."),
        ),
        ("Traffic peaks during seasonal campaigns.",
         "Authentication goes through Amazon Cognito.",
         "The team wants to pay only for usage."),
    ),
    _ProjectType(
        "Contact Center", 130_000, "agents", 250, 0.9, 2.0, 4, 5.5, 0.07,
        (("Amazon Connect", 0.55), ("Amazon Lex", 0.08), (_LAMBDA, 0.05), ("Amazon Transcribe", 0.05),
         ("Amazon Polly", 0.02), (_DDB, 0.04), (_S3, 0.04), (_KINESIS, 0.05), ("Amazon Bedrock", 0.05),
         ("Amazon Comprehend", 0.03), ("Amazon Pinpoint", 0.04)),
        (
            _Variant("Contact Center Migration", "Amazon Connect contact center",
                     "Replace the Avaya call center with Amazon Connect for {q} contact-center agents."),
            _Variant("Omnichannel Contact Center", "Omnichannel customer service",
                     "Launch omnichannel voice, chat and email on Amazon Connect for {q} agents."),
            _Variant("Contact Center AI", "Contact center AI with Amazon Connect",
                     "Add Contact Lens analytics and Amazon Lex bots for {q} contact-center agents."),
        ),
        ("IVR flows will be redesigned.",
         "Integration with Salesforce CRM is required.",
         "Real-time call transcription supports quality assurance."),
    ),
    _ProjectType(
        "Security & Compliance", 75_000, "AWS accounts", 40, 0.9, 1.0, 3, 6.0, 0.07,
        (("Amazon GuardDuty", 0.17), ("AWS Security Hub", 0.1), ("AWS WAF", 0.12), ("AWS Shield", 0.15),
         ("AWS Key Management Service", 0.05), ("AWS CloudTrail", 0.06), ("AWS Config", 0.08),
         ("Amazon Macie", 0.06), ("Amazon Inspector", 0.05), ("AWS Network Firewall", 0.1), (_CW, 0.06)),
        (
            _Variant("Security Hardening", "Cloud security hardening",
                     "Harden security across {q} AWS accounts with Amazon GuardDuty and AWS Security Hub."),
            _Variant("Landing Zone and Governance", "Landing zone and governance",
                     "Build a governed multi-account landing zone for {q} AWS accounts with AWS Control Tower."),
            _Variant("Compliance Automation", "Compliance automation",
                     "Automate PCI DSS and ISO 27001 controls across {q} AWS accounts with AWS Config."),
            _Variant("DDoS and Web Protection", "DDoS protection and WAF",
                     "Protect public applications in {q} AWS accounts with AWS Shield Advanced and AWS WAF."),
        ),
        ("An external audit is due next quarter.",
         "A recent ransomware incident triggered the project.",
         "SIEM integration with Splunk is required."),
    ),
)  # fmt: skip
_T = {t.name: i for i, t in enumerate(PROJECT_TYPES)}
_N_TYPES: Final = len(PROJECT_TYPES)

# Services bought with some money up front (reserved capacity, term subscriptions, device jobs, ports).
_UPFRONT_SERVICES: Final = frozenset(
    {_EC2, _RDS, _AURORA, "Amazon Redshift", "Amazon ElastiCache", _OPENSEARCH, _DX, "AWS Snowball",
     "VMware Cloud on AWS", "Amazon SageMaker"}
)  # fmt: skip

SEGMENTS: Final = ("Enterprise", "Mid-Market", "SMB", "Public Sector", "Startup")
_SEGMENT_SHARE: Final = (0.28, 0.30, 0.20, 0.10, 0.12)
_SEGMENT_ARR: Final = np.array([0.6, 0.0, -0.7, 0.3, -0.9])
_SEGMENT_SIGMA: Final = np.array([0.28, 0.35, 0.45, 0.30, 0.55])
_SEGMENT_TTL: Final = np.array([1.0, 0.0, -0.5, 2.0, -0.7])
# Bigger organisations also buy bigger scopes; this is on top of (and correlated with) the ARR effect.
_SEGMENT_SCOPE: Final = np.array([0.5, 0.0, -0.6, 0.3, -0.7])
_SEGMENT_EMPLOYEES: Final = (25_000, 1_500, 120, 6_000, 60)
_SEGMENT_ADJECTIVES: Final = (
    ("leading", "global", "large"),
    ("mid-sized", "regional", "established"),
    ("small", "family-owned", "independent"),
    ("state-funded", "municipal", "national"),
    ("fast-growing", "venture-backed", "young"),
)
# How segments bend the choice of project: startups build serverless and AI, enterprises run SAP.
_SEGMENT_TYPE_BIAS: Final = np.array(
    [
        # Mig  Mod  D&A  AI   SAP  VMW  Sto  Con  Svl  CC   Sec
        [1.0, 1.0, 1.0, 1.0, 2.0, 1.5, 1.0, 1.0, 0.5, 1.0, 1.0],
        [1.0] * 11,
        [1.0, 0.8, 0.8, 0.8, 0.2, 0.5, 1.5, 0.7, 1.3, 1.0, 1.0],
        [1.0, 1.0, 1.0, 0.8, 0.7, 1.0, 1.0, 0.8, 0.6, 1.5, 1.5],
        [0.4, 1.0, 1.0, 2.5, 0.0, 0.1, 0.4, 2.0, 3.0, 0.6, 0.8],
    ]
)


@dataclass(frozen=True)
class _Industry:
    name: str
    arr_effect: float
    weight: float
    nouns: tuple[str, ...]
    activities: tuple[str, ...]


INDUSTRIES: Final[tuple[_Industry, ...]] = (
    _Industry("Financial Services", 0.25, 0.16, ("Bank", "Capital", "Financial", "Insurance", "Payments", "Credit"),
              ("offers retail and commercial banking", "sells life and property insurance",
               "runs a card payments platform", "manages investment funds for private clients")),
    _Industry("Healthcare", 0.05, 0.09, ("Health", "Medical", "Clinics", "Pharma", "Biosciences", "Care"),
              ("runs hospitals and outpatient clinics", "develops generic medicines",
               "provides home care services", "operates diagnostic laboratories")),
    _Industry("Retail", 0.0, 0.11, ("Retail", "Stores", "Outfitters", "Market", "Brands", "Foods"),
              ("operates grocery stores and an online shop", "sells fashion through stores and e-commerce",
               "runs a chain of home improvement stores")),
    _Industry("Manufacturing", -0.05, 0.12, ("Industries", "Manufacturing", "Components", "Machinery", "Steel"),
              ("makes industrial pumps and valves", "produces packaging materials",
               "manufactures electronic components for OEMs")),
    _Industry("Media & Entertainment", 0.1, 0.06, ("Media", "Studios", "Broadcasting", "Games", "Publishing"),
              ("streams video to subscribers", "publishes news and magazines", "develops mobile games")),
    _Industry("Telecommunications", 0.2, 0.05, ("Telecom", "Networks", "Communications", "Mobile", "Fiber"),
              ("provides mobile and broadband services", "operates a fiber network for businesses")),
    _Industry("Energy & Utilities", 0.05, 0.06, ("Energy", "Power", "Utilities", "Renewables", "Gas & Electric"),
              ("generates and distributes electricity", "operates wind and solar farms",
               "supplies gas and water to households")),
    _Industry("Public Sector", -0.1, 0.01, ("Services",), ("delivers public services to citizens",
                                                           "runs transport and infrastructure services")),
    _Industry("Education", -0.25, 0.02, ("Learning", "Academy", "Education"),
              ("teaches undergraduate and graduate students", "offers online courses and certifications")),
    _Industry("Travel & Hospitality", -0.05, 0.06, ("Hotels", "Travel", "Airlines", "Resorts", "Logistics"),
              ("operates hotels and resorts", "runs a regional airline", "sells package holidays online",
               "provides freight and logistics services")),
    _Industry("Software & Internet", 0.1, 0.16, ("Software", "Labs", "Technologies", "Systems", "Analytics"),
              ("sells a SaaS platform to businesses", "runs an online marketplace",
               "builds HR and payroll software")),
    _Industry("Automotive", 0.05, 0.05, ("Motors", "Automotive", "Mobility", "Auto Parts"),
              ("supplies parts to car makers", "runs a network of car dealerships", "builds electric vehicles")),
)  # fmt: skip
_I = {ind.name: i for i, ind in enumerate(INDUSTRIES)}


def _industry_weights() -> npt.NDArray[np.float64]:
    """Industry shares per segment: the public sector and startups look nothing like the rest."""
    general = np.array([ind.weight for ind in INDUSTRIES])
    public = np.zeros(len(INDUSTRIES))
    public[[_I["Public Sector"], _I["Education"], _I["Healthcare"], _I["Energy & Utilities"]]] = (
        0.55, 0.25, 0.15, 0.05)  # fmt: skip
    startup = np.zeros(len(INDUSTRIES))
    for name, w in (("Software & Internet", 0.45), ("Financial Services", 0.15), ("Healthcare", 0.1),
                    ("Retail", 0.1), ("Media & Entertainment", 0.1), ("Travel & Hospitality", 0.05),
                    ("Education", 0.05)):  # fmt: skip
        startup[_I[name]] = w
    rows = np.stack([general, general, general, public, startup])
    return np.asarray(rows / rows.sum(axis=1, keepdims=True), dtype=np.float64)


_INTERACTIONS: Final = {
    ("AI/ML", "Software & Internet"): 0.3,
    ("SAP on AWS", "Manufacturing"): 0.2,
    ("Contact Center", "Travel & Hospitality"): 0.25,
    ("Data & Analytics", "Retail"): 0.15,
}

# (country, share of customers, price level on ln ARR, legal suffixes)
_COUNTRIES: Final[tuple[tuple[str, float, float, tuple[str, ...]], ...]] = (
    ("United States", 0.36, 0.10, ("Inc.", "LLC", "Corp.")),
    ("Canada", 0.04, 0.0, ("Inc.", "Ltd.")),
    ("United Kingdom", 0.08, 0.05, ("Ltd", "plc")),
    ("Ireland", 0.02, 0.0, ("Ltd", "DAC")),
    ("Germany", 0.07, 0.05, ("GmbH", "AG")),
    ("Switzerland", 0.02, 0.15, ("AG", "SA")),
    ("France", 0.04, 0.0, ("SA", "SAS")),
    ("Netherlands", 0.03, 0.0, ("B.V.", "N.V.")),
    ("Sweden", 0.02, 0.05, ("AB",)),
    ("Spain", 0.02, -0.08, ("S.A.", "S.L.")),
    ("Italy", 0.02, -0.05, ("S.p.A.", "S.r.l.")),
    ("United Arab Emirates", 0.02, 0.05, ("LLC", "PJSC")),
    ("Australia", 0.05, 0.05, ("Pty Ltd", "Limited")),
    ("Japan", 0.04, 0.0, ("K.K.", "Co., Ltd.")),
    ("Singapore", 0.03, 0.0, ("Pte. Ltd.",)),
    ("India", 0.04, -0.15, ("Pvt. Ltd.", "Limited")),
    ("Brazil", 0.04, -0.1, ("Ltda.", "S.A.")),
    ("Mexico", 0.02, -0.12, ("S.A. de C.V.",)),
    ("Chile", 0.02, -0.1, ("SpA", "S.A.")),
)

_PREFIXES: Final = (
    "Northwind", "Helios", "Bluepeak", "Silverline", "Ironbridge", "Redwood", "Summit", "Crescent", "Lakeside",
    "Evergreen", "Brightwater", "Granite", "Cobalt", "Orion", "Vertex", "Meridian", "Pinnacle", "Harbor",
    "Atlas", "Beacon", "Cedar", "Falcon", "Keystone", "Maple", "Nova", "Oakridge", "Pacific", "Sterling",
    "Trident", "Vanguard", "Westfield", "Zenith", "Alder", "Coastal", "Eastgate", "Greenfield", "Highland",
    "Juniper", "Kestrel", "Lumen", "Mosaic", "Northstar", "Pioneer", "Rockport", "Sapphire", "Tidewater",
    "Willow", "Arcadia", "Bellwether", "Clearview", "Driftwood", "Emberly", "Foxhollow", "Larkspur", "Quill",
)  # fmt: skip
_PREFIX_ADJECTIVES: Final = (
    "Blue", "Silver", "Red", "Green", "Golden", "North", "South", "East", "West", "Grand", "High", "Clear",
    "Bright", "Iron", "Stone", "Royal", "Swift", "True", "Far", "Old",
)  # fmt: skip
_PREFIX_NOUNS: Final = (
    "Harbor", "River", "Peak", "Ridge", "Lake", "Bridge", "Oak", "Pine", "Field", "Rock", "Bay", "Creek",
    "Hill", "Gate", "Point", "Star", "Wave", "Crest", "Brook", "Valley",
)  # fmt: skip
_PLACES: Final = (
    "Ashford", "Westbrook", "Riverton", "Lakewood", "Fairview", "Brookhaven", "Kingsport", "Millbrook",
    "Oakdale", "Cedarburg", "Greenville", "Clearwater", "Stonebridge", "Maplewood", "Northfield", "Eastleigh",
    "Harrowgate", "Bridgeport", "Elmhurst", "Glenwood", "Hartwell", "Ironton", "Kelso", "Linwood", "Marlow",
    "Newhaven", "Oldcastle", "Pembroke", "Redcliff", "Seabrook", "Thornbury", "Wexford", "Yarrow", "Ambleside",
)  # fmt: skip
_PLACE_QUALIFIERS: Final = ("", "", "North ", "South ", "East ", "West ", "New ", "Port ", "Upper ", "Lower ")
_INSTITUTIONS: Final[dict[str, tuple[str, ...]]] = {
    "Public Sector": ("City of {p}", "{p} County", "{p} Transit Authority", "{p} Department of Revenue",
                      "Port of {p}", "{p} Police Service", "{p} Housing Agency"),
    "Education": ("{p} University", "University of {p}", "{p} Community College", "{p} School District",
                  "{p} Institute of Technology"),
    "Healthcare": ("{p} Health Authority", "{p} General Hospital", "{p} Health System"),
    "Energy & Utilities": ("{p} Water Authority", "{p} Municipal Utilities", "{p} Public Power District"),
}  # fmt: skip
_NAME_QUALIFIERS: Final = ("Group", "Holdings", "International", "Global", "Partners")

# (partner, sales regions, project types it is known for, relative size)
_PARTNERS: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...], float], ...]] = (
    ("Stratus Cloud Partners", ("NAMER",), ("Migration", "VMware Cloud", "Storage & Backup"), 3.0),
    ("Cumulus Consulting", ("NAMER",), ("Data & Analytics", "AI/ML"), 2.0),
    ("Skyforge Solutions", ("NAMER",), ("Modernization", "Containers", "Serverless Application"), 2.0),
    ("Bluewave Technologies", ("NAMER",), ("Migration", "Security & Compliance"), 1.5),
    ("Northpoint Cloud", ("NAMER",), ("Contact Center", "AI/ML"), 1.0),
    ("Apex Cloud Services", ("NAMER", "LATAM"), ("Migration", "Data & Analytics"), 2.0),
    ("Cirrus Digital", ("NAMER",), ("Serverless Application", "Containers"), 1.0),
    ("Pillar Systems Integration", ("NAMER",), ("SAP on AWS",), 1.2),
    ("Keystone Cloud Group", ("NAMER",), ("Security & Compliance", "Storage & Backup"), 1.0),
    ("Silverlake Consulting", ("NAMER",), ("Data & Analytics", "Modernization"), 1.0),
    ("Alpenwolke Consulting", ("EMEA",), ("SAP on AWS", "Migration"), 1.5),
    ("Brightlane Digital", ("EMEA",), ("Modernization", "Serverless Application"), 1.5),
    ("Cloudhaven Europe", ("EMEA",), ("Migration", "VMware Cloud"), 2.0),
    ("Lumiere Cloud", ("EMEA",), ("Data & Analytics", "AI/ML"), 1.0),
    ("Polder IT Services", ("EMEA",), ("Migration", "Storage & Backup"), 1.0),
    ("Fjordline Cloud", ("EMEA",), ("Containers", "Modernization"), 0.8),
    ("Thamesbridge Consulting", ("EMEA",), ("Security & Compliance", "Contact Center"), 1.2),
    ("Rhein Cloud Solutions", ("EMEA",), ("SAP on AWS", "Data & Analytics"), 1.0),
    ("Iberia Cloud Partners", ("EMEA", "LATAM"), ("Migration", "Contact Center"), 0.8),
    ("Desert Falcon IT", ("EMEA",), ("Migration", "Security & Compliance"), 0.6),
    ("Southern Cross Cloud", ("APJ",), ("Migration", "Data & Analytics"), 1.5),
    ("Kaizen Cloud", ("APJ",), ("Modernization", "SAP on AWS"), 1.2),
    ("Lion City Digital", ("APJ",), ("Serverless Application", "AI/ML"), 1.0),
    ("Indus Cloud Technologies", ("APJ",), ("Migration", "Modernization", "Containers"), 1.5),
    ("Tasman Digital", ("APJ",), ("Contact Center", "Security & Compliance"), 0.8),
    ("Pacific Rim Cloud", ("APJ",), ("VMware Cloud", "Storage & Backup"), 0.8),
    ("Nuvem Brasil Consultoria", ("LATAM",), ("Migration", "Data & Analytics"), 1.2),
    ("Andes Cloud Partners", ("LATAM",), ("Migration", "Modernization"), 0.8),
    ("Azteca Digital", ("LATAM",), ("Contact Center", "Serverless Application"), 0.7),
    ("Global Cloud Alliance", ("NAMER", "EMEA", "APJ", "LATAM"), ("Migration", "SAP on AWS", "VMware Cloud"), 3.0),
    ("Transcend Consulting", ("NAMER", "EMEA", "APJ"), ("Data & Analytics", "AI/ML", "Modernization"), 2.5),
    ("Ironclad Systems", ("NAMER", "EMEA"), ("Security & Compliance",), 1.0),
    ("Vantage Point Digital", ("NAMER", "EMEA", "APJ"), ("Contact Center", "AI/ML"), 1.2),
    ("Orbit Cloud Services", ("NAMER", "APJ"), ("Containers", "Serverless Application"), 1.0),
    ("Meridian Data Works", ("NAMER", "EMEA"), ("Data & Analytics",), 1.0),
    ("Archway Managed Services", ("NAMER", "EMEA"), ("Storage & Backup", "Migration"), 1.0),
    ("Quantica AI", ("NAMER", "EMEA", "APJ"), ("AI/ML",), 0.8),
    ("Beacon Hill Technologies", ("NAMER",), ("SAP on AWS", "Migration"), 0.9),
    ("Crosswind Cloud", ("EMEA", "APJ"), ("VMware Cloud", "Migration"), 0.8),
    ("Sable Systems", ("LATAM", "NAMER"), ("Modernization", "Containers"), 0.6),
)  # fmt: skip
_REGIONS: Final = ("NAMER", "EMEA", "APJ", "LATAM")

_PHASES: Final[tuple[str | None, ...]] = ("Assess", "Mobilize", "Migrate & Modernize", None)
_PHASE_PROBS: Final = np.array(
    [
        [0.18, 0.22, 0.55, 0.05],
        [0.0, 0.04, 0.36, 0.60],
        [0.0, 0.0, 0.10, 0.90],
        [0.0, 0.0, 0.0, 1.0],
        [0.10, 0.15, 0.50, 0.25],
        [0.10, 0.15, 0.50, 0.25],
        [0.05, 0.10, 0.35, 0.50],
        [0.0, 0.0, 0.20, 0.80],
        [0.0, 0.0, 0.05, 0.95],
        [0.0, 0.0, 0.10, 0.90],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
_PHASE_ARR: Final = np.array([-0.5, -0.2, 0.0, 0.0])
_PHASE_TTL: Final = np.array([0.0, 1.0, 0.5, 0.0])
# An assessment or a mobilize phase is short work whatever the estate's size.
_PHASE_DURATION: Final = np.array([-3.0, -1.5, 0.0, 0.0])

_START: Final = np.array([0.30, 0.06, 0.12, 0.06, 0.06, 0.07, 0.09, 0.05, 0.07, 0.06, 0.09])
# What a customer buys next, given what it bought last (rows: previous type, columns: next type).
_NEXT: Final = np.array(
    [
        # Mig   Mod   D&A   AI    SAP   VMW   Sto   Con   Svl   CC    Sec
        [0.10, 0.22, 0.22, 0.05, 0.02, 0.01, 0.06, 0.14, 0.06, 0.02, 0.10],  # Migration
        [0.03, 0.08, 0.25, 0.10, 0.00, 0.00, 0.03, 0.25, 0.12, 0.02, 0.12],  # Modernization
        [0.02, 0.05, 0.18, 0.40, 0.00, 0.00, 0.03, 0.04, 0.08, 0.05, 0.08],  # Data & Analytics
        [0.02, 0.04, 0.25, 0.25, 0.00, 0.00, 0.02, 0.06, 0.06, 0.12, 0.08],  # AI/ML
        [0.12, 0.04, 0.45, 0.12, 0.05, 0.00, 0.08, 0.02, 0.02, 0.02, 0.08],  # SAP on AWS
        [0.35, 0.18, 0.08, 0.02, 0.02, 0.05, 0.08, 0.12, 0.02, 0.02, 0.06],  # VMware Cloud
        [0.45, 0.05, 0.15, 0.03, 0.02, 0.05, 0.05, 0.02, 0.02, 0.02, 0.14],  # Storage & Backup
        [0.03, 0.10, 0.30, 0.18, 0.00, 0.00, 0.02, 0.10, 0.12, 0.03, 0.12],  # Containers
        [0.02, 0.05, 0.30, 0.28, 0.00, 0.00, 0.02, 0.12, 0.08, 0.05, 0.08],  # Serverless Application
        [0.02, 0.04, 0.28, 0.40, 0.00, 0.00, 0.02, 0.02, 0.12, 0.02, 0.08],  # Contact Center
        [0.22, 0.15, 0.20, 0.12, 0.02, 0.02, 0.06, 0.12, 0.04, 0.02, 0.03],  # Security & Compliance
    ]
)
# Market shifts by close year 2019..2025: generative AI from 2023, VMware exits after 2023, remote contact
# centers in 2020.
_YEAR_TYPE_BIAS: Final = np.ones((7, _N_TYPES))
_YEAR_TYPE_BIAS[:, _T["AI/ML"]] = (0.5, 0.6, 0.7, 0.8, 1.3, 1.8, 2.0)
_YEAR_TYPE_BIAS[:, _T["VMware Cloud"]] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.5)
_YEAR_TYPE_BIAS[:, _T["Migration"]] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.15, 1.2)
_YEAR_TYPE_BIAS[:, _T["Contact Center"]] = (0.7, 1.3, 1.2, 1.0, 1.0, 1.0, 1.0)
_YEAR_TYPE_BIAS[:, _T["Containers"]] = (0.7, 0.8, 0.9, 1.0, 1.1, 1.1, 1.1)

_PROJECTS_PER_CUSTOMER: Final = (0.30, 0.22, 0.16, 0.12, 0.09, 0.06, 0.05)
_FIRST_DAY: Final = int(np.datetime64("2019-01-01", "D").astype(np.int64))
_LAST_DAY: Final = int(np.datetime64("2025-09-30", "D").astype(np.int64))
_YEARLY_GROWTH: Final = 0.25  # new customers per year grow ~25%, so later years hold more projects
_TREND_PER_YEAR: Final = 0.06
_TREND_ORIGIN_YEAR: Final = 2022.0
_SCOPE_ELASTICITY: Final = 0.55

_GTM: Final = ("Co-Sell", "Partner Originated", "AWS Originated")
_GTM_PROBS: Final = np.array(
    [[0.55, 0.25, 0.20], [0.45, 0.40, 0.15], [0.30, 0.60, 0.10], [0.50, 0.30, 0.20], [0.30, 0.55, 0.15]]
)
_PROGRAMS: Final = ("MAP", "MAP Lite", "ISV Workload Migration", "Partner Opportunity Acceleration", "None")
_UNIFIED_PROGRAM: Final = (
    "Migration Acceleration Program",
    "Migration Acceleration Program",
    "ISV Workload Migration Program",
    "Partner Funding",
    "No Funding",
)
_MAP_ARR_THRESHOLD: Final = math.log(150_000)

_NOISE_SENTENCES: Final = (
    "Budget approved for this fiscal year.",
    "Customer asked for a fixed-price SOW.",
    "Decision expected by end of quarter.",
    "Executive sponsor is the CIO.",
    "Follow-up workshop scheduled with the architecture team.",
    "Competing offer from another cloud provider.",
    "Timeline driven by a contract renewal.",
    "Partner to run a proof of concept first.",
    "Pricing based on the AWS Pricing Calculator estimate.",
    "Pending legal review.",
    "TBD: exact scope after discovery.",
    "See attached SOW draft.",
)
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SFDC_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SFDC_PODS: Final = ("1T", "3x", "4W", "5e", "6S", "8X", "Hp")  # by close year: newer records, newer pods


def _categorical(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One draw per row from that row's (unnormalised) probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    picked = (u[:, None] >= cum).sum(axis=1)
    return np.asarray(np.minimum(picked, probs.shape[1] - 1), dtype=np.int64)


def _pick(u: float, options: tuple[str, ...]) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _round_scope(x: FloatArray) -> FloatArray:
    """Round scopes the way people state them: 7, 45, 240, 1,200, 190,000 (never below 2)."""
    x = np.maximum(x, 2.0)
    step = np.where(x >= 100, 10.0 ** (np.floor(np.log10(x)) - 1), 1.0)
    return np.asarray(np.maximum(np.round(x / step) * step, 2.0), dtype=np.float64)


def _sfdc_id(id15: str) -> str:
    """Salesforce's 18-character form: three checksum letters encode the case of the 15-character id."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if ch.isupper())
        suffix += _SFDC_CHECKSUM[bits]
    return id15 + suffix


@dataclass(frozen=True)
class _Customers:
    segment: IntArray
    industry: IntArray
    country: IntArray
    sub_region: list[str]
    u: FloatArray
    name: list[str]
    short_name: list[str]
    business: list[tuple[str, str]]
    account: list[str]
    partners: IntArray  # (customers, 2): the usual partner, and the one brought in for other specialties


@dataclass(frozen=True)
class _Draw:
    """Every drawn quantity per project, in output order; rows and truth are views of it."""

    customers: _Customers
    customer: IntArray
    project_type: IntArray
    phase: IntArray
    variant: list[_Variant]
    scope: FloatArray
    close_day: IntArray
    start_day: IntArray
    end_day: IntArray
    log_arr_median: FloatArray
    arr_sigma: FloatArray
    log_arr: FloatArray  # ln of the realised ARR, which the services add up to exactly
    ttl_median: FloatArray
    duration_median: FloatArray
    services: list[list[str]]  # (projects, 10) in slot order, "" for an empty slot
    monthly_cents: IntArray  # (projects, 10)
    upfront_cents: IntArray  # (projects, 10)
    partner: IntArray
    gtm: IntArray
    program: IntArray


def _customer_names(
    rng: np.random.Generator, industry: IntArray, country: IntArray, segment: IntArray
) -> tuple[list[str], list[str]]:
    """Unique, plausible company and institution names, with the short form used in opportunity names."""
    n = len(industry)
    picks = rng.random((n, 5)).tolist()
    used: set[str] = set()
    names: list[str] = []
    shorts: list[str] = []
    for i in range(n):
        ind = INDUSTRIES[int(industry[i])]
        institutional = ind.name in _INSTITUTIONS and (
            segment[i] == SEGMENTS.index("Public Sector") or ind.name == "Public Sector"
        )
        suffixes = _COUNTRIES[int(country[i])][3]
        p = picks[i]
        for attempt in range(40):
            if attempt:
                p = rng.random(5).tolist()
            if institutional:
                if p[3] < 0.5:
                    town = _pick(p[1], _PLACES)
                else:
                    town = f"{_pick(p[1], _PREFIX_ADJECTIVES)}{_pick(p[4], _PREFIX_NOUNS).lower()}"
                place = _pick(p[0], _PLACE_QUALIFIERS) + town
                short = _pick(p[2], _INSTITUTIONS[ind.name]).format(p=place)
                name = short
            else:
                if p[0] < 0.5:
                    prefix = _pick(p[1], _PREFIXES)
                else:
                    prefix = f"{_pick(p[1], _PREFIX_ADJECTIVES)}{_pick(p[4], _PREFIX_NOUNS).lower()}"
                short = f"{prefix} {_pick(p[2], ind.nouns)}"
                name = f"{short} {_pick(p[3], suffixes)}"
            if name not in used:
                break
        else:
            qualifier = _NAME_QUALIFIERS[i % len(_NAME_QUALIFIERS)]
            short, name = f"{short} {qualifier}", f"{name} {qualifier} {i}"
        used.add(name)
        names.append(name)
        shorts.append(short)
    return names, shorts


def _business_descriptions(
    rng: np.random.Generator, c_names: list[str], segment: IntArray, industry: IntArray, country: IntArray,
    u: FloatArray,
) -> list[tuple[str, str]]:  # fmt: skip
    """Two phrasings of the same facts per customer, so descriptions vary lightly between its projects."""
    n = len(c_names)
    picks = rng.random((n, 2)).tolist()
    size_noise = rng.normal(0.0, 0.5, n)
    employees = np.array(_SEGMENT_EMPLOYEES)[segment] * np.exp(2.0 * u + size_noise)
    rounded = _round_scope(employees).astype(np.int64).tolist()
    out: list[tuple[str, str]] = []
    for i in range(n):
        ind = INDUSTRIES[int(industry[i])]
        adjective = _pick(picks[i][0], _SEGMENT_ADJECTIVES[int(segment[i])])
        activity = _pick(picks[i][1], ind.activities)
        where = _COUNTRIES[int(country[i])][0]
        if where.startswith("United") or where == "Netherlands":
            where = "the " + where
        sector = ind.name.lower().replace("&", "and").replace("public sector", "public-sector")
        article = "an" if adjective[0] in "aeiou" else "a"
        first = f"{c_names[i]} is {article} {adjective} {sector} organisation in {where} that {activity}."
        second = f"{c_names[i]} {activity} in {where} with about {rounded[i]:,} employees."
        out.append((first, second))
    return out


def _draw_customers(rng: np.random.Generator, n: int) -> _Customers:
    segment = rng.choice(len(SEGMENTS), size=n, p=np.array(_SEGMENT_SHARE)).astype(np.int64)
    industry = _categorical(rng, _industry_weights()[segment])
    weights = np.array([c[1] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=weights / weights.sum()).astype(np.int64)
    u = rng.normal(0.0, 0.35, n)
    us_split = np.array([w for _, w in US_SUB_REGIONS])
    us_pick = rng.choice(len(US_SUB_REGIONS), size=n, p=us_split / us_split.sum()).tolist()
    sub_region = [
        US_SUB_REGIONS[us_pick[i]][0] if _COUNTRIES[c][0] == "United States" else COUNTRY_GEO[_COUNTRIES[c][0]][1]
        for i, c in enumerate(country.tolist())
    ]
    names, shorts = _customer_names(rng, industry, country, segment)
    business = _business_descriptions(rng, names, segment, industry, country, u)
    account = [f"{a:012d}" for a in rng.integers(0, 10**12, n).tolist()]

    region_of_country = np.array([_REGIONS.index(COUNTRY_GEO[c[0]][0]) for c in _COUNTRIES])
    serves = np.array([[r in p[1] for r in _REGIONS] for p in _PARTNERS])  # (partners, regions)
    size = np.array([p[3] for p in _PARTNERS])
    eligible = (serves[:, region_of_country[country]].T * size).astype(np.float64)  # (customers, partners)
    primary = _categorical(rng, eligible)
    eligible[np.arange(n), primary] = 0.0
    secondary = _categorical(rng, eligible)
    return _Customers(
        segment, industry, country, sub_region, u, names, shorts, business, account,
        np.stack([primary, secondary], axis=1),
    )  # fmt: skip


def _draw_sequences(rng: np.random.Generator, n_rows: int) -> tuple[IntArray, IntArray]:
    """Projects per customer and their close days, adding up to exactly n_rows.

    Customers arrive ever faster (the partner business grows), intend one to seven projects 4-18 months
    apart, and only the projects closed by the end of the window are history: recent customers have had
    fewer projects so far, as in a real export.
    """
    p = np.array(_PROJECTS_PER_CUSTOMER)
    intended = rng.choice(len(p), size=n_rows, p=p / p.sum()) + 1  # every customer has a row: enough
    g = math.log1p(_YEARLY_GROWTH) / 365.25
    first = _FIRST_DAY + np.log1p(rng.random(n_rows) * np.expm1(g * (_LAST_DAY - _FIRST_DAY))) / g
    gaps = rng.uniform(4.0, 18.0, (n_rows, len(p) - 1)) * schema.DAYS_PER_MONTH
    days = np.floor(first[:, None] + np.concatenate([np.zeros((n_rows, 1)), np.cumsum(gaps, axis=1)], axis=1))
    counts = np.minimum(intended, (days <= _LAST_DAY).sum(axis=1))
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, n_rows))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(total[last]) - n_rows
    keep = np.arange(days.shape[1])[None, :] < counts[:, None]
    return counts.astype(np.int64), days[: last + 1][keep].astype(np.int64)


_SERVICE_NAMES: Final[tuple[str, ...]] = tuple(dict.fromkeys(name for t in PROJECT_TYPES for name, _ in t.services))
_MAX_SERVICES: Final = 10
_POOL_SIZE: Final = max(len(t.services) for t in PROJECT_TYPES)
_POOL_INDEX: Final = np.array(
    [[_SERVICE_NAMES.index(s) for s, _ in t.services] + [0] * (_POOL_SIZE - len(t.services)) for t in PROJECT_TYPES]
)
_POOL_SHARE: Final = np.array(
    [[w for _, w in t.services] + [0.0] * (_POOL_SIZE - len(t.services)) for t in PROJECT_TYPES]
)
_UPFRONT_ELIGIBLE: Final = np.array([s in _UPFRONT_SERVICES for s in _SERVICE_NAMES])
_PARTNER_SPECIALTY: Final = np.array([[t.name in p[2] for t in PROJECT_TYPES] for p in _PARTNERS])
# How tightly a project's cost split follows its type's typical shares (Dirichlet concentration).
_SHARE_CONCENTRATION: Final = 25.0
_ESTATE: Final = {"Storage & Backup": "{q} TB of data", "SAP on AWS": "an SAP landscape with {q} users"}


def _draw_types(
    rng: np.random.Generator, segment: IntArray, step: IntArray, year_index: IntArray
) -> tuple[IntArray, IntArray]:
    """Project type and migration phase, step by step along each customer's sequence of projects.

    A MAP assessment is usually followed by the same workload's mobilize phase, and mobilize by the
    migration itself, which is what makes follow-on projects predictable from the last one.
    """
    n = len(step)
    types = np.zeros(n, dtype=np.int64)
    phases = np.full(n, len(_PHASES) - 1, dtype=np.int64)
    bias = _SEGMENT_TYPE_BIAS[segment] * _YEAR_TYPE_BIAS[year_index]
    for k in range(int(step.max()) + 1):
        rows = np.flatnonzero(step == k)
        transition = _START[None, :] if k == 0 else _NEXT[types[rows - 1]]
        types[rows] = _categorical(rng, transition * bias[rows])
        phases[rows] = _categorical(rng, _PHASE_PROBS[types[rows]])
        if k:
            prev_type, prev_phase = types[rows - 1], phases[rows - 1]
            follow = (prev_phase <= 1) & (rng.random(len(rows)) < 0.6)
            types[rows] = np.where(follow, prev_type, types[rows])
            phases[rows] = np.where(follow, prev_phase + 1, phases[rows])
    return types, phases


def _draw_services(
    rng: np.random.Generator, types: IntArray, scope_ratio: FloatArray, segment: IntArray, arr_cents: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Services with monthly and upfront cents that add up to the drawn ARR exactly.

    Returns service indices, monthly cents and upfront cents, all (projects, 10) ordered by monthly cost,
    and the realised ARR in cents (the draw moved by at most 6 cents so that 12 x monthly + upfront is exact).
    """
    n = len(types)
    shares = _POOL_SHARE[types]
    size = (shares > 0).sum(axis=1)
    n_services = np.array([t.n_services for t in PROJECT_TYPES])[types] + 0.8 * scope_ratio
    k = np.clip(np.rint(n_services + rng.normal(0.0, 1.2, n)), 3, np.minimum(_MAX_SERVICES, size))
    # Gumbel top-k: k services without replacement, the type's big services most likely.
    keys = np.where(shares > 0, np.log(np.maximum(shares, 1e-12)), -np.inf) + rng.gumbel(size=shares.shape)
    selected = np.argsort(np.argsort(-keys, axis=1), axis=1) < k[:, None]
    weight = np.where(selected, rng.gamma(_SHARE_CONCENTRATION * shares) + 1e-4, 0.0)
    weight /= weight.sum(axis=1, keepdims=True)
    order = np.argsort(-weight, axis=1, kind="stable")[:, :_MAX_SERVICES]
    weight = np.take_along_axis(weight, order, axis=1)
    service = np.take_along_axis(_POOL_INDEX[types], order, axis=1)

    eligible = _UPFRONT_ELIGIBLE[service] & (weight > 0)
    segment_bias = np.array([1.3, 1.0, 0.6, 1.0, 0.6])[segment]
    chance = np.array([t.upfront_chance for t in PROJECT_TYPES])[types] * segment_bias
    has_upfront = (rng.random(n) < chance) & eligible.any(axis=1)
    upfront_share = rng.uniform(0.02, 0.20, n)
    upfront_target = np.where(has_upfront, np.rint(upfront_share * arr_cents), 0).astype(np.int64)
    mrr = np.where(has_upfront, (arr_cents - upfront_target) // 12, np.rint(arr_cents / 12)).astype(np.int64)
    upfront_total = np.where(has_upfront, arr_cents - 12 * mrr, 0)

    monthly = np.floor(mrr[:, None] * weight).astype(np.int64)
    monthly[:, 0] += mrr - monthly.sum(axis=1)
    upfront_weight = weight * eligible * rng.uniform(0.5, 1.5, weight.shape)
    total = upfront_weight.sum(axis=1, keepdims=True)
    upfront_weight = upfront_weight / np.where(total > 0, total, 1.0)
    upfront = np.floor(upfront_total[:, None] * upfront_weight).astype(np.int64)
    upfront[np.arange(n), np.argmax(upfront_weight, axis=1)] += upfront_total - upfront.sum(axis=1)
    service = np.where(weight > 0, service, -1)
    return service, monthly, upfront, 12 * mrr + upfront_total


def _draw(rng: np.random.Generator, n_rows: int) -> _Draw:
    """All quantities of the sample, in the order rows are emitted (by close date)."""
    counts, close_day = _draw_sequences(rng, n_rows)
    cust = _draw_customers(rng, len(counts))
    customer = np.repeat(np.arange(len(counts)), counts)
    step = np.arange(n_rows) - (np.cumsum(counts) - counts)[customer]
    year = 1970.0 + close_day / 365.2425
    year_index = np.clip(np.floor(year).astype(np.int64) - 2019, 0, _YEAR_TYPE_BIAS.shape[0] - 1)
    segment, industry, country, u = (
        cust.segment[customer], cust.industry[customer], cust.country[customer], cust.u[customer],
    )  # fmt: skip
    types, phases = _draw_types(rng, segment, step, year_index)

    typical = np.array([t.typical_scope for t in PROJECT_TYPES])[types]
    spread = np.array([t.scope_sigma for t in PROJECT_TYPES])[types]
    scope = _round_scope(typical * np.exp(_SEGMENT_SCOPE[segment] + 0.5 * u + rng.normal(0.0, spread)))
    ratio = np.log(scope / typical)

    interaction = np.zeros((_N_TYPES, len(INDUSTRIES)))
    for (type_name, industry_name), effect in _INTERACTIONS.items():
        interaction[_T[type_name], _I[industry_name]] = effect
    log_median = (
        np.log([t.base_arr for t in PROJECT_TYPES])[types]
        + _SEGMENT_ARR[segment]
        + np.array([ind.arr_effect for ind in INDUSTRIES])[industry]
        + np.array([c[2] for c in _COUNTRIES])[country]
        + _SCOPE_ELASTICITY * ratio
        + u
        + _PHASE_ARR[phases]
        + _TREND_PER_YEAR * (year - _TREND_ORIGIN_YEAR)
        + interaction[types, industry]
    )
    sigma = _SEGMENT_SIGMA[segment]
    drawn_cents = np.rint(np.exp(log_median + sigma * rng.normal(0.0, 1.0, n_rows)) * 100).astype(np.int64)
    service, monthly, upfront, arr_cents = _draw_services(rng, types, ratio, segment, drawn_cents)

    ttl_mu = (
        np.array([t.ttl_base for t in PROJECT_TYPES])[types] + _SEGMENT_TTL[segment] + _PHASE_TTL[phases] + 0.3 * ratio
    )
    ttl = np.maximum(ttl_mu + rng.normal(0.0, 0.8, n_rows), 0.2)
    duration_base = np.array([t.duration_base for t in PROJECT_TYPES])[types]
    duration_mu = duration_base + 1.5 * ratio + _PHASE_DURATION[phases]
    duration = np.maximum(duration_mu + rng.normal(0.0, 1.0, n_rows) * (0.5 + 0.1 * duration_base), 1.0)
    start_day = close_day + np.rint(ttl * schema.DAYS_PER_MONTH).astype(np.int64)
    end_day = start_day + np.rint(duration * schema.DAYS_PER_MONTH).astype(np.int64)

    variant_pick = rng.random(n_rows).tolist()
    variants = [
        PROJECT_TYPES[t].variants[min(int(p * len(PROJECT_TYPES[t].variants)), len(PROJECT_TYPES[t].variants) - 1)]
        for t, p in zip(types.tolist(), variant_pick, strict=True)
    ]
    primary, secondary = cust.partners[customer, 0], cust.partners[customer, 1]
    needs_specialist = ~_PARTNER_SPECIALTY[primary, types] & _PARTNER_SPECIALTY[secondary, types]
    second = (needs_specialist & (rng.random(n_rows) < 0.6)) | (rng.random(n_rows) < 0.05)
    partner = np.where(second, secondary, primary)
    gtm = _categorical(rng, _GTM_PROBS[segment])

    log_arr = np.log(arr_cents / 100.0)
    migration = phases < len(_PHASES) - 1
    isv = (industry == _I["Software & Internet"]) & (rng.random(n_rows) < 0.6)
    unfunded = rng.random(n_rows) < 0.1
    large = log_arr + rng.normal(0.0, 0.3, n_rows) >= _MAP_ARR_THRESHOLD
    poa = rng.random(n_rows) < np.array([0.35, 0.45, 0.2])[gtm]
    program = np.where(
        migration,
        np.where(isv, 2, np.where(unfunded, 4, np.where(large, 0, 1))),
        np.where(poa, 3, 4),
    )

    o = np.lexsort((np.arange(n_rows), close_day))
    names = [[_SERVICE_NAMES[s] if s >= 0 else "" for s in row] for row in service[o].tolist()]
    return _Draw(
        customers=cust, customer=customer[o], project_type=types[o], phase=phases[o],
        variant=[variants[i] for i in o.tolist()], scope=scope[o], close_day=close_day[o],
        start_day=start_day[o], end_day=end_day[o], log_arr_median=log_median[o], arr_sigma=sigma[o],
        log_arr=log_arr[o], ttl_median=np.maximum(ttl_mu, 0.2)[o], duration_median=np.maximum(duration_mu, 1.0)[o],
        services=names, monthly_cents=monthly[o], upfront_cents=upfront[o], partner=partner[o], gtm=gtm[o],
        program=program[o],
    )  # fmt: skip


def _opportunity_ids(rng: np.random.Generator, close_day: IntArray) -> list[str]:
    """Unique 18-character Salesforce opportunity ids, on the record pod of their year."""
    year_index = np.clip(close_day // 365 - 49, 0, len(_SFDC_PODS) - 1).tolist()
    chars = rng.integers(0, len(_BASE62), (len(close_day), 5)).tolist()
    seen: set[str] = set()
    out: list[str] = []
    for pod, tail in zip(year_index, chars, strict=True):
        body = "006" + _SFDC_PODS[pod] + "00000" + "".join(_BASE62[c] for c in tail)
        while body in seen:
            body = body[:10] + "".join(_BASE62[c] for c in rng.integers(0, len(_BASE62), 5).tolist())
        seen.add(body)
        out.append(_sfdc_id(body))
    return out


def _description(d: _Draw, i: int, detail_pick: float, noise_pick: float) -> str:
    t = PROJECT_TYPES[int(d.project_type[i])]
    q = f"{int(d.scope[i]):,}"
    phase = _PHASES[int(d.phase[i])]
    estate = _ESTATE.get(t.name, "{q} " + t.unit).format(q=q)
    if phase == "Assess":
        parts = [f"Migration readiness assessment and business case for {estate}, using Migration Evaluator."]
    elif phase == "Mobilize":
        parts = [f"Mobilize phase for {estate}: landing zone, pilot wave and detailed migration plan."]
    else:
        parts = [d.variant[i].main.format(q=q)]
    if detail_pick < 0.7:
        parts.append(_pick(detail_pick / 0.7, t.details))
    if noise_pick < 0.45:
        parts.append(_pick(noise_pick / 0.45, _NOISE_SENTENCES))
    return " ".join(parts)


def _assemble(d: _Draw, rng: np.random.Generator) -> SampleHistory:
    n = len(d.customer)
    c = d.customers
    ids = _opportunity_ids(rng, d.close_day)
    apn = (1_000_000 + np.cumsum(rng.integers(1, max(2, min(10_000, 17_000_000 // max(n, 1))), n))).tolist()
    spms = rng.integers(100_000, 1_000_000, n).tolist()
    hexes = rng.bytes(20 * n).hex()
    new_account = (rng.random(n) < 0.55).tolist()
    project_accounts = [f"{a:012d}" for a in rng.integers(0, 10**12, n).tolist()]
    arr = (12 * d.monthly_cents.sum(axis=1) + d.upfront_cents.sum(axis=1)) / 100.0
    stated = np.round(arr * np.clip(rng.normal(1.0, 0.05, n), 0.85, 1.15)).tolist()
    stated_missing = (rng.random(n) < 0.05).tolist()
    picks = rng.random((n, 3)).tolist()
    dates = np.datetime_as_string(np.concatenate([d.start_day, d.end_day]).astype("datetime64[D]")).tolist()
    close_ts = (d.close_day * 86_400).tolist()

    customer, types, phases = d.customer.tolist(), d.project_type.tolist(), d.phase.tolist()
    partner, gtm, program = d.partner.tolist(), d.gtm.tolist(), d.program.tolist()
    monthly, upfront = d.monthly_cents.tolist(), d.upfront_cents.tolist()
    rows: list[dict[str, Any]] = []
    truth: list[SampleTruth] = []
    for i in range(n):
        k = customer[i]
        t = PROJECT_TYPES[types[i]]
        phase = _PHASES[phases[i]]
        country = _COUNTRIES[int(c.country[k])][0]
        title = d.variant[i].title if phase not in ("Assess", "Mobilize") else f"{d.variant[i].title} - {phase}"
        calculator = hexes[40 * i : 40 * i + 40]
        row: dict[str, Any] = {
            "activity_name": d.variant[i].activity,
            "project_type": t.name,
            "cor_gtm_apn_sfdc": _GTM[gtm[i]],
            "program": _PROGRAMS[program[i]],
            "unified program mapping": _UNIFIED_PROGRAM[program[i]],
            "customer_name": c.name[k],
            "aws account id": c.account[k],
            "annual_run_rate_usd": None if stated_missing[i] else stated[i],
            "aws_account_id_for_this_project": project_accounts[i] if new_account[i] else c.account[k],
            "opportunity_18_character_oppty_id": ids[i],
            "apn_oppty_id": f"O{apn[i]}",
            "customer_segment": SEGMENTS[int(c.segment[k])],
            "industry": INDUSTRIES[int(c.industry[k])].name,
            "close_date": close_ts[i],
            "planned_delivery_start_date": dates[i],
            "planned_delivery_end_date": dates[n + i],
            "migration_phase": phase,
            "opportunity_region": COUNTRY_GEO[country][0],
            "oppertunity-sub-region": c.sub_region[k],
            "country": country,
            "opportunity_name": f"{c.short_name[k]} - {title}",
            "description": _description(d, i, picks[i][0], picks[i][1]),
            "business_description": c.business[k][0 if picks[i][2] < 0.7 else 1],
            "partner_name": _PARTNERS[partner[i]][0],
            "spms_id": None if _PROGRAMS[program[i]] == "None" else str(spms[i]),
            "apfp_aws_calculator_url": f"https://calculator.aws/#/estimate?id={calculator}",
            "calculator_uid": calculator,
        }
        names = d.services[i]
        for j, slot in enumerate(schema.SERVICE_SLOTS):
            present = bool(names[j])
            label = schema.OTHER_SERVICES if present and slot == "servicex" else names[j]
            row[slot] = label if present else None
            row[schema.monthly_column(slot)] = monthly[i][j] / 100 if present else None
            row[schema.upfront_column(slot)] = upfront[i][j] / 100 if present else None
        rows.append(row)
        truth.append(
            SampleTruth(
                ids[i],
                float(d.log_arr_median[i]),
                float(d.arr_sigma[i]),
                float(d.ttl_median[i]),
                float(d.duration_median[i]),
            )
        )
    return SampleHistory(rows=rows, truth=truth)


_OPTIONAL_FIELDS: Final = {
    "industry": "industry",
    "customer_segment": "customer_segment",
    "partner_name": "partner_name",
    "activity_focus": "activity_name",
    "business_description": "business_description",
    "migration_phase": "migration_phase",
}


def row_as_request(row: dict[str, Any], *, optional_fields: bool = True) -> dict[str, Any]:
    """A history row as the opportunity JSON a seller would have sent for it, to replay a history as requests.

    Without ``optional_fields`` only what the form requires (and the description) is sent.
    """
    body: dict[str, Any] = {
        "id": row["opportunity_18_character_oppty_id"],
        "customer_name": row["customer_name"],
        "region": row["country"],
        "close_date": datetime.fromtimestamp(row["close_date"], tz=UTC).date().isoformat(),
        "opportunity_name": row["opportunity_name"],
        "description": row["description"] or "",
    }
    if optional_fields:
        body |= {field: row[column] for field, column in _OPTIONAL_FIELDS.items()}
    return body


def generate_sample(n_rows: int = 5000, seed: int = 20240601) -> SampleHistory:
    """The sample history for ``(n_rows, seed)``; identical for identical arguments."""
    if n_rows < 1:
        raise ValueError("n_rows must be at least 1")
    rng = np.random.default_rng(seed)
    return _assemble(_draw(rng, n_rows), rng)
